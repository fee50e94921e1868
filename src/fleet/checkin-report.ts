// The fleet server's reading of a check-in body (docs/protocol.md): tolerant of additions, strict on what it uses.
import type { DeviceRow } from './fleet-store.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const version = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : null);
const text = (v: unknown, max = 256): string | null => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : null);
const OUTCOMES = new Set(['committed', 'rolled_back', 'failed']);

/** The device row a check-in makes, or null when the body is not a check-in (400). */
export function deviceFromReport(body: unknown, prev: DeviceRow | null, nowMs: number, intervalSec: number): DeviceRow | null {
  if (!isObj(body)) return null;
  const id = text(body.deviceId, 128);
  const hardware = text(body.hardware);
  const channel = text(body.channel);
  if (id === null || hardware === null || channel === null) return null;
  const dep = isObj(body.deployment) ? body.deployment : null;
  const err = isObj(body.lastError) ? body.lastError : null;
  const t = isObj(body.trial) ? body.trial : null;
  const depVersion = dep ? version(dep.version) : null;
  const depPhase = dep ? text(dep.phase, 32) : null;
  let trial: DeviceRow['trial'] = prev?.trial ?? null;
  if (t && version(t.version) !== null && OUTCOMES.has(String(t.outcome))) {
    trial = { version: version(t.version) as number, outcome: t.outcome as 'committed' | 'rolled_back' | 'failed', reason: text(t.reason, 64) };
  } else if (depVersion !== null && depPhase !== null && OUTCOMES.has(depPhase) && depPhase !== 'failed') {
    // An agent without the `trial` field: its last deployment's terminal phase says the same.
    trial = { version: depVersion, outcome: depPhase as 'committed' | 'rolled_back', reason: err ? text(err.code, 64) : null };
  }
  return {
    id, hardware, channel,
    agentVersion: text(body.agentVersion, 64) ?? '',
    bootedVersion: version(body.bootedVersion),
    committedVersion: version(body.committedVersion),
    deploymentVersion: depVersion,
    deploymentPhase: depPhase,
    errorCode: err ? text(err.code, 64) : null,
    errorMessage: err ? text(err.message, 1024) : null,
    trial,
    firstSeen: prev?.firstSeen ?? nowMs,
    lastSeen: nowMs,
    checkins: (prev?.checkins ?? 0) + 1,
    intervalSec,
  };
}
