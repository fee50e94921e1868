// The daemon's timing: the check-in's Retry-After and interval honoured within bounds, backoff, and a floor on wakes.
import { describe, expect, it } from 'vitest';
import { afterCheckin, initialCheckinState, MIN_WAKE_MS, nextWakeDelayMs } from '../../src/daemon/schedule.js';
import { parseConfig } from '../../src/config.js';
import { CheckinError, RetryLaterError } from '../../src/errors.js';

const cfg = parseConfig({
  deviceId: 'd', hardware: 'h', zfs: { pool: 'p' },
  fleet: { url: 'https://f', checkinIntervalSec: 3600, jitterSec: 0, backoffMaxSec: 7200 },
  retry: { minDelaySec: 30, maxDelaySec: 21_600, jitterPct: 0, maxDeferrals: 2 },
});
const now = 1_000_000_000_000;
const s0 = initialCheckinState(now);
const retryLater = (ms: number): RetryLaterError => new RetryLaterError(ms, 'https://f/v1/checkin');

describe('afterCheckin', () => {
  it('a 503 with Retry-After: 7200 waits 7200 s, not the device backoff (30 s)', () => {
    const s = afterCheckin(s0, cfg, { ok: false, error: retryLater(7_200_000), serverIntervalSec: null }, now, 0);
    expect(s.nextAt - now).toBe(7_200_000);
    expect(s).toMatchObject({ failures: 0, deferrals: 1 });
  });
  it('Retry-After: 0 waits the floor', () => {
    const s = afterCheckin(s0, cfg, { ok: false, error: retryLater(0), serverIntervalSec: null }, now, 0);
    expect(s.nextAt - now).toBe(30_000);
  });
  it('past maxDeferrals a deferral is a failure: backoff, counted', () => {
    let s = s0;
    for (let i = 0; i < 2; i++) s = afterCheckin(s, cfg, { ok: false, error: retryLater(0), serverIntervalSec: null }, now, 0);
    s = afterCheckin(s, cfg, { ok: false, error: retryLater(0), serverIntervalSec: null }, now, 0);
    expect(s).toMatchObject({ failures: 1, deferrals: 0 });
    expect(s.nextAt - now).toBe(30_000);
  });
  it('failures back off exponentially to fleet.backoffMaxSec; success resets', () => {
    let s = s0;
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      s = afterCheckin(s, cfg, { ok: false, error: new CheckinError('E_CHECKIN', 'x'), serverIntervalSec: null }, now, 0);
      delays.push((s.nextAt - now) / 1000);
    }
    expect(delays.slice(0, 4)).toEqual([30, 60, 120, 240]);
    expect(Math.max(...delays)).toBe(7200);
    s = afterCheckin(s, cfg, { ok: true, error: null, serverIntervalSec: null }, now, 0);
    expect(s).toEqual({ nextAt: now + 3_600_000, failures: 0, deferrals: 0 });
  });
  it("the answer's checkinIntervalSec is honoured within the bounds", () => {
    expect(afterCheckin(s0, cfg, { ok: true, error: null, serverIntervalSec: 600 }, now, 0).nextAt - now).toBe(600_000);
    expect(afterCheckin(s0, cfg, { ok: true, error: null, serverIntervalSec: 1 }, now, 0).nextAt - now).toBe(30_000);
    expect(afterCheckin(s0, cfg, { ok: true, error: null, serverIntervalSec: 10 ** 8 }, now, 0).nextAt - now).toBe(21_600_000);
  });
});

describe('nextWakeDelayMs', () => {
  it('wakes for a deferred step before the check-in, never sooner than the floor', () => {
    expect(nextWakeDelayMs(now + 3_600_000, { phase: 'downloading', nextAttemptAt: now + 60_000 }, now)).toBe(60_000);
    expect(nextWakeDelayMs(now + 3_600_000, { phase: 'downloading', nextAttemptAt: now - 5 }, now)).toBe(MIN_WAKE_MS);
    expect(nextWakeDelayMs(now - 5, null, now)).toBe(MIN_WAKE_MS);
  });
  it('a switch-owned phase does not wake the daemon on its old retry time', () => {
    expect(nextWakeDelayMs(now + 3_600_000, { phase: 'confirming', nextAttemptAt: now - 5 }, now)).toBe(3_600_000);
  });
});
