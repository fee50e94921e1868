// The retry policy: server-given delays floored, capped and spread; deferrals capped; backoff doubling to a ceiling.
import { describe, expect, it } from 'vitest';
import { backoffMs, boundedServerDelayMs, clampServerDelayMs, onDeferral, retryPolicyOf } from '../../src/core/retry-policy.js';

const p = retryPolicyOf({ minDelaySec: 30, maxDelaySec: 3600, jitterPct: 20, maxDeferrals: 3 });

describe('server-given delays', () => {
  it('Retry-After: 0 (or a past date) waits the floor, never 0', () => {
    expect(boundedServerDelayMs(p, 0, 0)).toBe(30_000);
    expect(clampServerDelayMs(p, Number.NaN)).toBe(30_000);
  });
  it('a year is cut to the ceiling, jitter included', () => {
    expect(boundedServerDelayMs(p, 365 * 86_400_000, 0.99)).toBe(3_600_000);
  });
  it('a delay inside the bounds is kept and spread by up to jitterPct', () => {
    expect(boundedServerDelayMs(p, 100_000, 0)).toBe(100_000);
    expect(boundedServerDelayMs(p, 100_000, 0.5)).toBe(110_000);
    expect(boundedServerDelayMs(p, 100_000, 0.999)).toBeLessThan(120_000);
  });
});

describe('deferrals', () => {
  it('defers up to maxDeferrals in a row, then is exhausted', () => {
    let n = 0;
    for (let i = 0; i < 3; i++) {
      const d = onDeferral(p, n, 0, 0);
      expect(d).toEqual({ kind: 'defer', deferrals: i + 1, delayMs: 30_000 });
      n = d.deferrals;
    }
    expect(onDeferral(p, n, 0, 0)).toEqual({ kind: 'exhausted', deferrals: 4 });
  });
});

describe('backoff', () => {
  it('30 s doubling, capped', () => {
    expect([1, 2, 3, 4].map((f) => backoffMs(f, 100_000))).toEqual([30_000, 60_000, 100_000, 100_000]);
    expect(backoffMs(500, 3_600_000)).toBe(3_600_000);
  });
});
