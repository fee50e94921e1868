// One check-in cycle: report state, and when the fleet names a target, prepare it.
import type { Device } from './device.js';
import { checkIn, type CheckinAnswer, type CheckinReport } from '../steps/checkin.js';
import { CheckinError } from '../errors.js';
import { smallFetchLimits } from '../config.js';
import { readCommittedVersion } from './device-facts.js';
import { prepare, type PrepareResult } from './prepare.js';
import { packageVersion } from '../util/package-version.js';

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
    freeBytes: { images: device.space.freeBytes(config.paths.imagesDir), state: device.space.freeBytes(config.paths.stateDir) },
  };
}

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
