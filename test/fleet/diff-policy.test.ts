// On-demand diff policy, table-tested: the Retry-After estimate, protected pairs, least-recently-served eviction.
import { describe, expect, it } from 'vitest';
import { committedCounts, evictionPlan, protectedPairs, retryAfterSec } from '../../src/fleet/diff-policy.js';
import type { DiffRow } from '../../src/fleet/fleet-store.js';

describe('retryAfterSec', () => {
  it.each([
    ['no history, running just now', [], { running: true as const, elapsedMs: 0 }, 1, 30],
    ['running 20 s of a 60 s mean', [50_000, 70_000], { running: true as const, elapsedMs: 20_000 }, 1, 40],
    ['running past its mean: at least 1 s', [10_000], { running: true as const, elapsedMs: 60_000 }, 1, 1],
    ['queued first, one at a time', [10_000], { running: false as const, position: 0 }, 1, 15],
    ['queued third, two at a time', [10_000], { running: false as const, position: 2 }, 2, 25],
    ['capped at an hour', [10_000_000], { running: false as const, position: 5 }, 1, 3600],
  ])('%s', (_n, recent, where, conc, want) => expect(retryAfterSec(recent, where, conc)).toBe(want));
});

const row = (from: number, to: number, size: number, lastServedAt: number): DiffRow => ({ from, to, file: `/d/${from}-${to}`, size, sha256: 'a'.repeat(64), builtAt: 0, buildMs: 1, lastServedAt, served: 1 });

describe('protectedPairs / evictionPlan', () => {
  it('protects the newest release from the k most common committed bases', () => {
    const devices = [12, 12, 12, 14, 14, 9, 17].map((v) => ({ committedVersion: v }));
    expect([...protectedPairs(17, committedCounts(devices), 2)].sort()).toEqual(['12-17', '14-17']);
    expect(protectedPairs(null, committedCounts(devices), 2).size).toBe(0);
    expect(protectedPairs(17, committedCounts(devices), 0).size).toBe(0);
  });
  it('evicts least recently served first until under budget, skipping protected ones', () => {
    const diffs = [row(12, 17, 500, 1), row(9, 17, 500, 2), row(9, 16, 500, 3), row(14, 17, 500, 4)];
    expect(evictionPlan(diffs, 2000, new Set()).map((d) => d.from)).toEqual([]);
    expect(evictionPlan(diffs, 1000, new Set()).map((d) => `${d.from}-${d.to}`)).toEqual(['12-17', '9-17']);
    expect(evictionPlan(diffs, 1000, new Set(['12-17'])).map((d) => `${d.from}-${d.to}`)).toEqual(['9-17', '9-16']);
    expect(evictionPlan(diffs, 0, new Set(['12-17', '14-17'])).map((d) => `${d.from}-${d.to}`)).toEqual(['9-17', '9-16']);
  });
});
