// The daemon's timing as pure decisions: when the next check-in is due after each answer, and when to wake next.
import type { Config } from '../config.js';
import type { Deployment } from '../state/store.js';
import { RetryLaterError, type UpgradeError } from '../errors.js';
import { nextCheckinDelayMs } from '../core/decide.js';
import { resumeAction } from '../core/phases.js';
import { clampServerDelayMs, onDeferral, retryPolicyOf } from '../core/retry-policy.js';

export interface CheckinState {
  /** When the next check-in is due (ms since the epoch, the agent's clock). */
  nextAt: number;
  /** Consecutive failed check-ins: exponential backoff up to fleet.backoffMaxSec. */
  failures: number;
  /** Consecutive "come back later" answers (check-in 429/503, or the target's manifest 202): retry.maxDeferrals caps them. */
  deferrals: number;
}

export function initialCheckinState(now: number): CheckinState {
  return { nextAt: now, failures: 0, deferrals: 0 };
}

export interface CheckinResult {
  ok: boolean;
  error: UpgradeError | null;
  /** The answer's checkinIntervalSec, if it gave one. */
  serverIntervalSec: number | null;
}

/**
 * After one check-in cycle: the regular interval (the server's, bounded by the retry policy, else the configured one)
 * plus jitter; the server's Retry-After within the policy's bounds; or backoff after a failure, and after a deferral
 * past retry.maxDeferrals. Pure; `random` in [0, 1).
 */
export function afterCheckin(s: CheckinState, cfg: Config, r: CheckinResult, now: number, random: number): CheckinState {
  const policy = retryPolicyOf(cfg.retry);
  const schedule = { intervalSec: cfg.fleet.checkinIntervalSec, jitterSec: cfg.fleet.jitterSec, backoffMaxSec: cfg.fleet.backoffMaxSec };
  if (r.ok) {
    const intervalSec = r.serverIntervalSec === null ? schedule.intervalSec : clampServerDelayMs(policy, r.serverIntervalSec * 1000) / 1000;
    return { nextAt: now + nextCheckinDelayMs({ ...schedule, intervalSec }, 0, null, random), failures: 0, deferrals: 0 };
  }
  if (r.error instanceof RetryLaterError) {
    const d = onDeferral(policy, s.deferrals, r.error.retryAfterMs, random);
    if (d.kind === 'defer') return { ...s, nextAt: now + d.delayMs, deferrals: d.deferrals };
  }
  const failures = s.failures + 1;
  return { nextAt: now + nextCheckinDelayMs(schedule, failures, null, random), failures, deferrals: 0 };
}

/** The daemon never wakes sooner than this after a turn, whatever the state says: a floor under every loop. */
export const MIN_WAKE_MS = 1000;

/** Until the check-in is due, or the active deployment's own retry (a step, or the window), whichever comes first. */
export function nextWakeDelayMs(checkinAt: number, active: Pick<Deployment, 'phase' | 'nextAttemptAt'> | null, now: number): number {
  let at = checkinAt;
  if (active && active.nextAttemptAt !== null) {
    const kind = resumeAction(active.phase).kind;
    if (kind === 'step' || kind === 'wait-window') at = Math.min(at, active.nextAttemptAt);
  }
  return Math.max(MIN_WAKE_MS, at - now);
}
