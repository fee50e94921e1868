// Check-in: report where the device stands to the fleet server and learn the target (POST /v1/checkin).
import type { Dispatcher } from '../adapters/http-dispatcher.js';
import { comeBackLater, fetchCapped, type SmallFetchLimits } from '../adapters/http.js';
import { CheckinError, UpgradeError } from '../errors.js';

export const CHECKIN_SCHEMA = 1;

export interface CheckinReport {
  deviceId: string;
  hardware: string;
  channel: string;
  agentVersion: string;
  bootedVersion: number | null;
  committedVersion: number | null;
  deployment: { version: number; phase: string } | null;
  lastError: { code: string; message: string } | null;
  /**
   * The outcome of the last trial (a deployment that reached the switch), sent at every check-in: the server keeps
   * one per device, so repeating it counts nothing twice (docs/protocol.md). Absent: no trial yet.
   */
  trial?: TrialOutcome;
  freeBytes: { images: number; state: number };
}

export interface TrialOutcome {
  version: number;
  outcome: 'committed' | 'rolled_back' | 'failed';
  /** The reason code of a fallback or failure; null when committed. */
  reason: string | null;
  /** The deployment's local id: with `version`, tells one trial of a version from a later one. */
  deploymentId: number;
}

export interface CheckinAnswer {
  target: { version: number; manifestUrl: string } | null;
  checkinIntervalSec: number | null;
}

const MAX_ANSWER_BYTES = 64 * 1024;

export interface CheckinNet {
  dispatcher: Dispatcher;
  limits: SmallFetchLimits;
  now?: () => number;
}

/**
 * Sends one check-in. 429/503 become RetryLaterError with the server's Retry-After as given (the caller's retry policy
 * bounds it); anything else odd is E_CHECKIN, with the transport's code (deadline, redirect, ...) as cause.
 */
export async function checkIn(fleetUrl: string, report: CheckinReport, net: CheckinNet): Promise<CheckinAnswer> {
  const url = new URL('v1/checkin', fleetUrl.endsWith('/') ? fleetUrl : `${fleetUrl}/`).toString();
  const now = net.now ?? Date.now;
  let res;
  try {
    res = await fetchCapped(url, {
      dispatcher: net.dispatcher,
      limits: net.limits,
      now,
      maxBytes: MAX_ANSWER_BYTES,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ schema: CHECKIN_SCHEMA, ...report }),
    });
  } catch (err) {
    const netCode = err instanceof UpgradeError ? err.code : null;
    throw new CheckinError('E_CHECKIN', `check-in to ${url} failed: ${(err as Error).message}`, { cause: err, context: { url, netCode } });
  }
  if (res.status === 429 || res.status === 503) throw comeBackLater(res.headers, url, now());
  if (res.status !== 200) {
    throw new CheckinError('E_CHECKIN', `check-in to ${url} answered HTTP ${res.status}`, { context: { url, status: res.status } });
  }
  return parseAnswer(res.body, url, fleetUrl);
}

/** Strictly parses the server's answer; relative manifest URLs resolve against the fleet URL. Pure. */
export function parseAnswer(body: Uint8Array, url: string, fleetUrl: string): CheckinAnswer {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (err) {
    throw new CheckinError('E_CHECKIN', `check-in answer from ${url} is not JSON`, { cause: err, context: { url } });
  }
  const bad = (why: string): never => {
    throw new CheckinError('E_CHECKIN', `check-in answer from ${url}: ${why}`, { context: { url } });
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) bad('not an object');
  const o = json as Record<string, unknown>;
  const interval = o['checkinIntervalSec'];
  if (interval !== undefined && interval !== null && (!Number.isInteger(interval) || (interval as number) < 1)) bad('bad checkinIntervalSec');
  const t = o['target'];
  if (t === null || t === undefined) return { target: null, checkinIntervalSec: (interval as number | undefined) ?? null };
  if (typeof t !== 'object' || Array.isArray(t)) bad('target must be an object or null');
  const { version, manifest } = t as Record<string, unknown>;
  if (!Number.isSafeInteger(version) || (version as number) < 1) bad('target.version must be a positive integer');
  if (typeof manifest !== 'string' || manifest === '') bad('target.manifest must be a URL');
  let manifestUrl: string;
  try {
    manifestUrl = new URL(manifest as string, fleetUrl.endsWith('/') ? fleetUrl : `${fleetUrl}/`).toString();
  } catch (err) {
    throw new UpgradeError('E_CHECKIN', `check-in answer from ${url}: bad manifest URL`, { cause: err });
  }
  return { target: { version: version as number, manifestUrl }, checkinIntervalSec: (interval as number | undefined) ?? null };
}
