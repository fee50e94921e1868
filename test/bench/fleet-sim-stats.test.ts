// The fleet simulation's arithmetic: the phase schedule, nearest-rank percentiles, CPU share, the timer heap.
import { describe, expect, it } from 'vitest';
import { cpuPercent, percentile, phasePlan, TimerHeap, wallSec } from '../../bench/fleet-sim-stats.js';

describe('phasePlan', () => {
  it('lays out the day from the check-in period: steady, release at 10% then 100%, outage, herd', () => {
    const p = phasePlan(3600, 300);
    expect(p.map((x) => [x.name, x.action, x.simSec])).toEqual([
      ['steady', 'none', 3900], ['release-10%', 'start-rollout', 1800], ['release-100%', 'widen-rollout', 3900],
      ['outage', 'stop-server', 3900], ['herd', 'start-server', 5850],
    ]);
    expect(wallSec(3900, 60)).toBe(65);
  });
});

describe('percentile', () => {
  it('takes the nearest rank of a sorted array', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
  });

  it('is NaN for no values and refuses a p outside 0..100', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(/0\.\.100/);
  });
});

describe('cpuPercent', () => {
  it('is the share of one core: 150 ticks at 100 Hz over 2 s is 75%', () => {
    expect(cpuPercent(150, 100, 2)).toBe(75);
    expect(cpuPercent(10, 100, 0)).toBe(0);
  });
});

describe('TimerHeap', () => {
  it('pops in time order, however pushed, and grows past its capacity', () => {
    const h = new TimerHeap(2);
    const ats = [5, 1, 9, 3, 3, 7, 0, 8];
    ats.forEach((at, id) => h.push(at, id));
    expect(h.size).toBe(8);
    expect(h.peekAt()).toBe(0);
    const order: number[] = [];
    while (h.size > 0) order.push(ats[h.pop()] as number);
    expect(order).toEqual([0, 1, 3, 3, 5, 7, 8, 9]);
    expect(h.pop()).toBe(-1);
    expect(h.peekAt()).toBe(Infinity);
  });
});
