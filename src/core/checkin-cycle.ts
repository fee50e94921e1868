// One check-in cycle: report state, and when the fleet names a target, prepare it.
import type { Agent } from '../wiring.js';
import { checkIn, type CheckinAnswer, type CheckinReport } from '../steps/checkin.js';
import { CheckinError } from '../errors.js';
import { smallFetchLimits } from '../config.js';
import { freeBytes, readBootedVersion, readCommittedVersion } from './device-facts.js';
import { prepare, type PrepareResult } from './prepare.js';
import { packageVersion } from '../wiring.js';

export function buildReport(agent: Agent): CheckinReport {
  const { config, store } = agent;
  const active = store.active();
  const last = store.list(1)[0];
  return {
    deviceId: config.deviceId,
    hardware: config.hardware,
    channel: config.channel,
    agentVersion: packageVersion(),
    bootedVersion: readBootedVersion(config),
    committedVersion: readCommittedVersion(store, config),
    deployment: active ? { version: active.version, phase: active.phase } : last ? { version: last.version, phase: last.phase } : null,
    lastError: last?.reasonCode ? { code: last.reasonCode, message: last.reason ?? '' } : null,
    freeBytes: { images: freeBytes(config.paths.imagesDir), state: freeBytes(config.paths.stateDir) },
  };
}

export interface CycleResult {
  answer: CheckinAnswer;
  prepared: PrepareResult | null;
}

export async function checkInCycle(agent: Agent, opts: { waitRetryLater?: boolean } = {}): Promise<CycleResult> {
  const url = agent.config.fleet.url;
  if (!url) throw new CheckinError('E_CHECKIN', 'no fleet.url configured: nothing to check in with');
  const answer = await checkIn(url, buildReport(agent), { dispatcher: agent.dispatcher, limits: smallFetchLimits(agent.config), now: agent.now });
  agent.store.journal('checked-in', null, { target: answer.target });
  if (!answer.target) return { answer, prepared: null };
  return { answer, prepared: await prepare(agent, answer.target.manifestUrl, { waitRetryLater: opts.waitRetryLater ?? false, automatic: true }) };
}
