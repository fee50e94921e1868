// The workload bench's arithmetic: medians, paired ratios, CPUWeight → cpu.shares.
import { describe, expect, it } from 'vitest';
import { pairedRatios, rate, sharesForWeight, spread } from '../../bench/workload-stats.js';

describe('spread', () => {
  it('takes the middle value of an odd count and the mean of the middle two of an even one', () => {
    expect(spread([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(spread([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4, n: 4 });
    expect(spread([7])).toEqual({ median: 7, min: 7, max: 7, n: 1 });
  });

  it('does not reorder the caller\'s array', () => {
    const xs = [3, 1, 2];
    spread(xs);
    expect(xs).toEqual([3, 1, 2]);
  });

  it('refuses an empty list and non-finite values', () => {
    expect(() => spread([])).toThrow(/finite/);
    expect(() => spread([1, Number.NaN])).toThrow(/finite/);
    expect(() => spread([Infinity])).toThrow(/finite/);
  });
});

describe('rate and pairedRatios', () => {
  it('divides bytes by seconds and refuses a zero duration', () => {
    expect(rate(10, 4)).toBe(2.5);
    expect(() => rate(10, 0)).toThrow(/> 0/);
  });

  it('pairs each contended run with the alone run of its repetition', () => {
    // Rep 2 ran on a slower machine overall: paired, its ratio is still 0.9.
    const r = pairedRatios([100, 50, 100], [90, 45, 80]);
    expect(r.median).toBeCloseTo(0.9, 10);
    expect(r.min).toBeCloseTo(0.8, 10);
    expect(r.max).toBeCloseTo(0.9, 10);
    expect(r.n).toBe(3);
  });

  it('refuses lists of different lengths and an alone rate of zero', () => {
    expect(() => pairedRatios([1, 2], [1])).toThrow(/2 alone vs 1 contended/);
    expect(() => pairedRatios([0], [1])).toThrow(/alone value/);
  });
});

describe('sharesForWeight', () => {
  it('maps systemd CPUWeight to cgroup v1 cpu.shares the way systemd does (100 ↔ 1024, integer division)', () => {
    expect(sharesForWeight(100)).toBe(1024);
    expect(sharesForWeight(20)).toBe(204);
    expect(sharesForWeight(1)).toBe(10);
    expect(sharesForWeight(10_000)).toBe(102_400);
  });

  it('refuses weights outside systemd\'s 1..10000', () => {
    expect(() => sharesForWeight(0)).toThrow(/1\.\.10000/);
    expect(() => sharesForWeight(10_001)).toThrow(/1\.\.10000/);
    expect(() => sharesForWeight(2.5)).toThrow(/1\.\.10000/);
  });
});
