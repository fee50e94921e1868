// One policy for "come back later" and errors: every server-given delay floored, capped and spread; deferrals counted.

/** The `retry` config section, in the units the decisions use. */
export interface RetryPolicy {
  /** Floor on every server-given delay (Retry-After, checkinIntervalSec): `Retry-After: 0` must not spin a fleet. */
  minDelayMs: number;
  /** Ceiling on every server-given delay: a server cannot park a device for a year. */
  maxDelayMs: number;
  /** Spread added on top of a server-given delay, as a fraction of it (0..1): a fleet told "60 s" does not return in step. */
  jitter: number;
  /** Consecutive "come back later" answers accepted; the next one counts as a failure (E_RETRY_LATER_EXHAUSTED). */
  maxDeferrals: number;
}

export function retryPolicyOf(cfg: { minDelaySec: number; maxDelaySec: number; jitterPct: number; maxDeferrals: number }): RetryPolicy {
  return { minDelayMs: cfg.minDelaySec * 1000, maxDelayMs: cfg.maxDelaySec * 1000, jitter: cfg.jitterPct / 100, maxDeferrals: cfg.maxDeferrals };
}

/** A server-given delay within [min, max] (a NaN is the floor). Pure. */
export function clampServerDelayMs(p: RetryPolicy, serverMs: number): number {
  return Number.isNaN(serverMs) ? p.minDelayMs : Math.min(p.maxDelayMs, Math.max(p.minDelayMs, serverMs));
}

/**
 * The delay to actually wait for a server-given one: clamped to [min, max], then up to `jitter` of it added (the sum
 * capped at max as well). Pure; `random` in [0, 1).
 */
export function boundedServerDelayMs(p: RetryPolicy, serverMs: number, random: number): number {
  const base = clampServerDelayMs(p, serverMs);
  return Math.min(p.maxDelayMs, Math.round(base + base * p.jitter * random));
}

/** Exponential backoff after `failures` (>= 1) consecutive failures: 30 s doubling, capped at `maxMs`. Pure. */
export function backoffMs(failures: number, maxMs: number): number {
  return Math.min(maxMs, 30_000 * 2 ** Math.min(Math.max(failures, 1) - 1, 20));
}

export type DeferralDecision =
  | { kind: 'defer'; deferrals: number; delayMs: number }
  | { kind: 'exhausted'; deferrals: number };

/**
 * A come-back-later answer after `deferrals` consecutive ones: wait the bounded delay, or — past the cap — give up
 * deferring (the caller records a failure with E_RETRY_LATER_EXHAUSTED, which backs off and counts toward its limit).
 */
export function onDeferral(p: RetryPolicy, deferrals: number, serverMs: number, random: number): DeferralDecision {
  const next = deferrals + 1;
  if (next > p.maxDeferrals) return { kind: 'exhausted', deferrals: next };
  return { kind: 'defer', deferrals: next, delayMs: boundedServerDelayMs(p, serverMs, random) };
}
