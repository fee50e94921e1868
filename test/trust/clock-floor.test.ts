// The clock floor's two bounds: what an accepted `issued` may store, and what a stored floor may do when used.
import { describe, expect, it } from 'vitest';
import { clockFloorInUse, clockFloorToStore } from '../../src/trust/clock-floor.js';
import { MAX_CLOCK_AHEAD_SEC } from '../../src/config.js';
import { refusal } from '../support/refusal.js';

const NOW_MS = Date.parse('2030-06-01T00:00:00Z');
const DAY_SEC = 24 * 3600;

describe('clockFloorToStore', () => {
  it('keeps an issued in the past exactly as signed', () => {
    expect(clockFloorToStore('2030-05-01T00:00:00Z', NOW_MS, DAY_SEC)).toBe('2030-05-01T00:00:00Z');
    expect(clockFloorToStore('2030-06-02T00:00:00+00:00', NOW_MS, DAY_SEC)).toBe('2030-06-02T00:00:00+00:00'); // at the bound
  });

  it('stores at most now + bound for a far-future issued', () => {
    expect(clockFloorToStore('2099-01-01T00:00:00Z', NOW_MS, DAY_SEC)).toBe('2030-06-02T00:00:00.000Z');
    expect(clockFloorToStore('2030-06-02T00:00:01Z', NOW_MS, DAY_SEC)).toBe('2030-06-02T00:00:00.000Z');
    expect(clockFloorToStore('2099-01-01T00:00:00Z', NOW_MS, 0)).toBe('2030-06-01T00:00:00.000Z');
  });

  it('refuses a garbled issued or current time (E_INTERNAL)', () => {
    expect(refusal(() => clockFloorToStore('soon', NOW_MS, DAY_SEC)).code).toBe('E_INTERNAL');
    expect(refusal(() => clockFloorToStore('2030-05-01T00:00:00Z', NaN, DAY_SEC)).code).toBe('E_INTERNAL');
  });
});

describe('clockFloorInUse', () => {
  it('is no floor at all before anything was accepted', () => {
    expect(clockFloorInUse(null, NOW_MS, DAY_SEC)).toEqual({ floorMs: -Infinity, capped: false });
  });

  it('uses a stored floor up to now + bound unchanged', () => {
    expect(clockFloorInUse('2030-05-01T00:00:00Z', NOW_MS, DAY_SEC)).toEqual({ floorMs: Date.parse('2030-05-01T00:00:00Z'), capped: false });
    expect(clockFloorInUse('2030-06-02T00:00:00Z', NOW_MS, DAY_SEC)).toEqual({ floorMs: NOW_MS + DAY_SEC * 1000, capped: false });
  });

  it('caps a poisoned floor at now + bound, and the cap moves with the device clock', () => {
    expect(clockFloorInUse('2099-01-01T00:00:00Z', NOW_MS, DAY_SEC)).toEqual({ floorMs: NOW_MS + DAY_SEC * 1000, capped: true });
    const later = NOW_MS + 10 * DAY_SEC * 1000;
    expect(clockFloorInUse('2099-01-01T00:00:00Z', later, DAY_SEC)).toEqual({ floorMs: later + DAY_SEC * 1000, capped: true });
  });

  it('refuses a garbled stored floor instead of ignoring it (E_INTERNAL)', () => {
    expect(refusal(() => clockFloorInUse('yesterday', NOW_MS, DAY_SEC)).code).toBe('E_INTERNAL');
  });

  it('refuses a bound that is not an integer 0..366 days (E_CONFIG_INVALID)', () => {
    expect(clockFloorInUse(null, NOW_MS, 0).capped).toBe(false);
    expect(clockFloorInUse(null, NOW_MS, MAX_CLOCK_AHEAD_SEC).capped).toBe(false);
    for (const bad of [-1, 0.5, MAX_CLOCK_AHEAD_SEC + 1, Infinity]) {
      expect(refusal(() => clockFloorInUse(null, NOW_MS, bad)).code).toBe('E_CONFIG_INVALID');
      expect(refusal(() => clockFloorToStore('2030-05-01T00:00:00Z', NOW_MS, bad)).code).toBe('E_CONFIG_INVALID');
    }
  });
});
