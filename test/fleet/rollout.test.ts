// Staged rollout decisions, table-tested: cohorts by stable hash, pins, holds, pause, widening, auto-pause.
import { describe, expect, it } from 'vitest';
import { bucketOf, decideTarget, inCohort, rolloutHealth, rolloutTick, type DeviceFacts } from '../../src/fleet/rollout.js';
import type { DeviceRow, RolloutRow } from '../../src/fleet/fleet-store.js';

const R = (o: Partial<RolloutRow> = {}): RolloutRow => ({
  id: 1, channel: 'stable', hardware: 'x86', version: 17, percent: 100, state: 'active', pausedReason: null, stepPercent: 0, everySec: 0, createdAt: 0, changedAt: 0, ...o,
});
const D = (o: Partial<DeviceFacts> = {}): DeviceFacts => ({ id: 'dev-1', hardware: 'x86', channel: 'stable', committedVersion: 12, deploymentVersion: null, ...o });
const none = new Map<string, number | null>();
const noHolds = new Set<number>();

describe('bucketOf / inCohort', () => {
  const ids = Array.from({ length: 20_000 }, (_, i) => `dev-${i}`);
  it('is stable and spreads devices evenly (10% ± 1 of 20000)', () => {
    expect(bucketOf('dev-7', 17)).toBe(bucketOf('dev-7', 17));
    const share = ids.filter((id) => inCohort(id, { version: 17, percent: 10 })).length / ids.length;
    expect(share).toBeGreaterThan(0.09);
    expect(share).toBeLessThan(0.11);
  });
  it('widening keeps every device already in, and releases pick different first cohorts', () => {
    const at10 = ids.filter((id) => inCohort(id, { version: 17, percent: 10 }));
    expect(at10.every((id) => inCohort(id, { version: 17, percent: 25 }))).toBe(true);
    const other = ids.filter((id) => inCohort(id, { version: 18, percent: 10 }));
    expect(other.filter((id) => at10.includes(id)).length).toBeLessThan(at10.length * 0.2);
  });
  it('0% is nobody, 100% everybody', () => {
    expect(ids.some((id) => inCohort(id, { version: 17, percent: 0 }))).toBe(false);
    expect(ids.every((id) => inCohort(id, { version: 17, percent: 100 }))).toBe(true);
  });
});

describe('decideTarget', () => {
  const outOf1pct = Array.from({ length: 500 }, (_, i) => `d${i}`).find((id) => !inCohort(id, { version: 17, percent: 1 })) as string;
  const in1pct = Array.from({ length: 5000 }, (_, i) => `d${i}`).find((id) => inCohort(id, { version: 17, percent: 1 })) as string;
  const table: [string, DeviceFacts, RolloutRow[], Map<string, number | null>, Set<number>, number | null, string][] = [
    ['full rollout', D(), [R()], none, noHolds, 17, 'rollout'],
    ['other channel', D({ channel: 'beta' }), [R()], none, noHolds, null, 'none'],
    ['other hardware', D({ hardware: 'arm' }), [R()], none, noHolds, null, 'none'],
    ['in the cohort', D({ id: in1pct }), [R({ percent: 1 })], none, noHolds, 17, 'rollout'],
    ['outside the cohort', D({ id: outOf1pct }), [R({ percent: 1 })], none, noHolds, null, 'none'],
    ['outside, but already deploying it', D({ id: outOf1pct, deploymentVersion: 17 }), [R({ percent: 1 })], none, noHolds, 17, 'in-progress'],
    ['paused: new devices get nothing', D(), [R({ state: 'paused' })], none, noHolds, null, 'none'],
    ['paused: a device mid-way keeps it', D({ deploymentVersion: 17 }), [R({ state: 'paused' })], none, noHolds, 17, 'in-progress'],
    ['paused newest: the previous release still goes', D(), [R({ id: 2, version: 18, state: 'paused' }), R()], none, noHolds, 17, 'rollout'],
    ['held version: never offered', D({ deploymentVersion: 17 }), [R()], none, new Set([17]), null, 'none'],
    ['held newest: the previous release', D(), [R({ id: 2, version: 18 }), R()], none, new Set([18]), 17, 'rollout'],
    ['already committed', D({ committedVersion: 17 }), [R()], none, noHolds, null, 'none'],
    ['newer committed than any rollout', D({ committedVersion: 20 }), [R()], none, noHolds, null, 'none'],
    ['pinned to a version', D(), [R()], new Map([['dev-1', 15]]), noHolds, 15, 'pinned'],
    ['pinned to stay', D(), [R()], new Map([['dev-1', null]]), noHolds, null, 'pinned-stay'],
    ['pinned to what it runs', D({ committedVersion: 15 }), [R()], new Map([['dev-1', 15]]), noHolds, null, 'pinned-stay'],
    ['no rollouts', D(), [], none, noHolds, null, 'none'],
  ];
  it.each(table)('%s', (_name, d, rollouts, pins, holds, version, reason) => {
    const got = decideTarget(d, rollouts, pins, holds);
    expect(got.version).toBe(version);
    expect(got.reason).toBe(reason);
  });
});

describe('rolloutHealth and rolloutTick', () => {
  const dev = (id: string, phase: string, o: Partial<DeviceRow> = {}): DeviceRow => ({
    id, hardware: 'x86', channel: 'stable', agentVersion: '0.1.0', bootedVersion: 12, committedVersion: 12, deploymentVersion: 17, deploymentPhase: phase,
    errorCode: null, errorMessage: null, trial: null, firstSeen: 0, lastSeen: 0, checkins: 1, intervalSec: 3600, ...o,
  });
  it('counts the devices of its channel, hardware and version by outcome', () => {
    const h = rolloutHealth(R(), [dev('a', 'committed'), dev('b', 'failed'), dev('c', 'rolled_back'), dev('d', 'downloading'), dev('e', 'failed', { channel: 'beta' }), dev('f', 'failed', { deploymentVersion: 16 })]);
    expect(h).toEqual({ reporting: 4, failed: 2, committed: 1 });
  });
  const policy = { failureThreshold: 0.1, minReports: 5 };
  const table: [string, RolloutRow, { reporting: number; failed: number; committed: number }, number, string, number?][] = [
    ['healthy, no schedule', R({ percent: 10 }), { reporting: 50, failed: 1, committed: 40 }, 10_000, 'none'],
    ['failed share over the threshold pauses', R({ percent: 10 }), { reporting: 50, failed: 6, committed: 40 }, 0, 'pause'],
    ['exactly at the threshold does not', R({ percent: 10 }), { reporting: 50, failed: 5, committed: 40 }, 0, 'none'],
    ['too few reports to judge', R({ percent: 10 }), { reporting: 4, failed: 4, committed: 0 }, 0, 'none'],
    ['due widening', R({ percent: 10, stepPercent: 15, everySec: 60, changedAt: 0 }), { reporting: 0, failed: 0, committed: 0 }, 60_000, 'widen', 25],
    ['not yet due', R({ percent: 10, stepPercent: 15, everySec: 60, changedAt: 0 }), { reporting: 0, failed: 0, committed: 0 }, 59_999, 'none'],
    ['widening stops at 100', R({ percent: 95, stepPercent: 15, everySec: 60 }), { reporting: 0, failed: 0, committed: 0 }, 60_000, 'widen', 100],
    ['at 100 nothing to widen', R({ percent: 100, stepPercent: 15, everySec: 60 }), { reporting: 0, failed: 0, committed: 0 }, 60_000, 'none'],
    ['paused stays paused', R({ state: 'paused', stepPercent: 15, everySec: 60 }), { reporting: 50, failed: 50, committed: 0 }, 60_000, 'none'],
    ['failure beats a due widening', R({ percent: 10, stepPercent: 15, everySec: 60 }), { reporting: 10, failed: 2, committed: 0 }, 60_000, 'pause'],
  ];
  it.each(table)('%s', (_n, r, h, now, kind, percent) => {
    const c = rolloutTick(r, h, now, policy);
    expect(c.kind).toBe(kind);
    if (c.kind === 'widen') expect(c.percent).toBe(percent);
    if (c.kind === 'pause') expect(c.reason).toMatch(/automatic: \d+ of \d+ devices failed/);
  });
});
