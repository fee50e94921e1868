// One check-in cycle: report state, and when the fleet names a target, prepare it.
import type { Device } from './device.js';
import { checkIn, type CheckinAnswer, type CheckinReport, type TrialOutcome } from '../steps/checkin.js';
import type { Deployment } from '../state/store.js';
import { CheckinError } from '../errors.js';
import { smallFetchLimits } from '../config.js';
import { readCommittedVersion } from './device-facts.js';
import { prepare, type PrepareResult } from './prepare.js';
import { packageVersion } from '../util/package-version.js';

const TRIAL_OUTCOMES = new Set(['committed', 'rolled_back', 'failed']);

/**
 * The last trial's outcome among `recent` deployments (newest first): the newest one that reached `ready` (the switch
 * could start) and ended committed, rolled back or failed. Failures before `ready` are not trials (lastError says
 * them). Pure.
 */
export function lastTrial(recent: readonly Deployment[]): TrialOutcome | null {
  for (const d of recent) {
    if (d.readyAt === null || d.phase === 'cancelled') continue;
    if (!TRIAL_OUTCOMES.has(d.phase)) return null; // the newest trial is still running
    return { version: d.version, outcome: d.phase as TrialOutcome['outcome'], reason: d.phase === 'committed' ? null : d.reasonCode, deploymentId: d.id };
  }
  return null;
}

export function buildReport(device: Device): CheckinReport {
  const { config, store } = device;
  const active = store.active();
  const last = store.list(1)[0];
  const booted = device.boot.bootedVersion();
  return {
    deviceId: config.deviceId,
    hardware: config.hardware,
    channel: config.channel,
    agentVersion: packageVersion(),
    bootedVersion: booted,
    committedVersion: readCommittedVersion(store, booted),
    deployment: active ? { version: active.version, phase: active.phase } : last ? { version: last.version, phase: last.phase } : null,
    lastError: last?.reasonCode ? { code: last.reasonCode, message: last.reason ?? '' } : null,
    ...trialField(lastTrial(store.list(20))),
    freeBytes: { images: device.space.freeBytes(config.paths.imagesDir), state: device.space.freeBytes(config.paths.stateDir) },
  };
}

const trialField = (t: TrialOutcome | null): { trial?: TrialOutcome } => (t === null ? {} : { trial: t });

export interface CycleResult {
  answer: CheckinAnswer;
  prepared: PrepareResult | null;
}

export async function checkInCycle(device: Device, opts: { waitRetryLater?: boolean } = {}): Promise<CycleResult> {
  const url = device.config.fleet.url;
  if (!url) throw new CheckinError('E_CHECKIN', 'no fleet.url configured: nothing to check in with');
  const answer = await checkIn(url, buildReport(device), { dispatcher: device.dispatcher, limits: smallFetchLimits(device.config), now: device.now });
  device.store.journal('checked-in', null, { target: answer.target });
  if (!answer.target) return { answer, prepared: null };
  return { answer, prepared: await prepare(device, answer.target.manifestUrl, { waitRetryLater: opts.waitRetryLater ?? false, automatic: true }) };
}
