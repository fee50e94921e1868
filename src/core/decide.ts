// Pure decisions of the prefetch side: which stream to fetch, when to check in next, what a new target does.
import type { Manifest, StreamOffer } from '../trust/manifest-types.js';
import { UpgradeError } from '../errors.js';
import { backoffMs } from './retry-policy.js';

/** Delta from the device's base first; the full stream when no delta from that base is offered. */
export function selectStream(m: Manifest, base: number | null): StreamOffer {
  if (base !== null) {
    const delta = m.streams.find((s) => s.from === base);
    if (delta) return delta;
  }
  const full = m.streams.find((s) => s.from === null);
  if (full) return full;
  throw new UpgradeError('E_MANIFEST_NO_STREAM', `manifest ${m.version} has no stream from base ${base ?? '(none)'} and no full stream`, {
    context: { version: m.version, base, offered: m.streams.map((s) => s.from) },
  });
}

export type StreamPlan = { kind: 'listed'; offer: StreamOffer } | { kind: 'ask'; from: number };

/**
 * The manifest's diff from the base when it lists one; else, when a fleet server can build diffs on demand, ask it
 * for one from the base; else the full stream. Pure.
 */
export function streamPlan(m: Manifest, base: number | null, onDemand: boolean): StreamPlan {
  if (base !== null && onDemand && !m.streams.some((s) => s.from === base)) return { kind: 'ask', from: base };
  return { kind: 'listed', offer: selectStream(m, base) };
}

/** The stream a deployment recorded: an on-demand diff from its persisted offer, else the manifest's, by base and hash. */
export function recordedStream(
  m: Manifest,
  d: { id: number; streamFrom: number | null; streamSize: number | null; streamSha256: string | null; compression: string | null; streamUrls: string | null },
): StreamOffer {
  if (d.streamUrls !== null && d.streamFrom !== null && d.streamSize !== null && d.streamSha256 !== null) {
    return { from: d.streamFrom, urls: JSON.parse(d.streamUrls) as string[], size: d.streamSize, sha256: d.streamSha256, compression: d.compression === 'none' ? 'none' : 'xz' };
  }
  const s = m.streams.find((x) => x.from === d.streamFrom);
  if (!s) throw new Error(`deployment ${d.id}: recorded stream from ${d.streamFrom} is not in its manifest`);
  return s;
}

export interface CheckinSchedule {
  intervalSec: number;
  jitterSec: number;
  backoffMaxSec: number;
}

/**
 * Delay before the next check-in: the interval plus random jitter (so a fleet does not call in lock-step), or
 * exponential backoff after failures, and never sooner than a server's Retry-After.
 */
export function nextCheckinDelayMs(s: CheckinSchedule, failures: number, retryAfterSec: number | null, random: number): number {
  const jitter = Math.floor(random * s.jitterSec * 1000);
  const base = failures > 0 ? backoffMs(failures, s.backoffMaxSec * 1000) : s.intervalSec * 1000;
  const floor = retryAfterSec === null ? 0 : retryAfterSec * 1000;
  return Math.max(base + jitter, floor);
}

export type TargetDecision =
  | { kind: 'up-to-date' }
  | { kind: 'rolled-back-before'; deploymentId: number }
  | { kind: 'failed-before'; deploymentId: number }
  | { kind: 'same'; deploymentId: number }
  | { kind: 'start'; replaces: number | null }
  | { kind: 'busy'; deploymentId: number; phase: string };

/**
 * What a verified target does to the current state: nothing when we have it already, continue an active
 * deployment of the same version, replace an active one that armed nothing, or wait while the switch is on.
 */
export function decideTarget(
  target: { version: number; payloadSha256: string },
  committed: number | null,
  active: { id: number; version: number; payloadSha256: string; phase: string; replaceable: boolean } | null,
  /** The last deployment of this version, when it ended badly and the target came from an automatic check-in. */
  ended: { id: number; payloadSha256: string; phase: 'rolled_back' | 'failed' } | null = null,
): TargetDecision {
  // A fallback or a final failure is not retried by itself (a failure would otherwise start a new deployment at every
  // check-in): only a re-published manifest or an explicit prepare tries again.
  if (ended && ended.payloadSha256 === target.payloadSha256 && !(active && active.version === target.version)) {
    return { kind: ended.phase === 'failed' ? 'failed-before' : 'rolled-back-before', deploymentId: ended.id };
  }
  if (active && active.version === target.version) return { kind: 'same', deploymentId: active.id };
  if (active && !active.replaceable) return { kind: 'busy', deploymentId: active.id, phase: active.phase };
  if (committed !== null && target.version <= committed) return { kind: 'up-to-date' };
  return { kind: 'start', replaces: active ? active.id : null };
}
