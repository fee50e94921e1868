// The FleetStore contract: the same cases for SQLite and PostgreSQL, each case with two stores on one database
// (two server instances): atomic check-ins, conditional rollout steps, one build claim per pair, one eviction per build.
import { describe, expect, it } from 'vitest';
import type { DeploymentCount, DeviceRow, DiffRow, FleetStore, RolloutRow } from '../../src/fleet/fleet-store.js';
import { deploymentCounts, healthOf, rolloutHealth } from '../../src/fleet/rollout.js';
import { committedCounts } from '../../src/fleet/diff-policy.js';

export interface StoreSubject {
  /** A fresh, empty database; `open` opens one more store (another instance) on it, `reopen` after all closed. */
  fresh(): Promise<{ open: () => Promise<FleetStore> }>;
}

export const device = (id: string, o: Partial<DeviceRow> = {}): DeviceRow => ({
  id, hardware: 'hw-a', channel: 'stable', agentVersion: '0.1.0', bootedVersion: 12, committedVersion: 12, deploymentVersion: null, deploymentPhase: null,
  errorCode: null, errorMessage: null, trial: null, firstSeen: 1000, lastSeen: 1000, checkins: 1, intervalSec: 3600, ...o,
});
const rollout = (o: Partial<Omit<RolloutRow, 'id'>> = {}): Omit<RolloutRow, 'id'> => ({
  channel: 'stable', hardware: 'hw-a', version: 17, percent: 10, state: 'active', pausedReason: null, stepPercent: 10, everySec: 60, createdAt: 5000, changedAt: 5000, ...o,
});
const diffRow = (from: number, to: number, o: Partial<DiffRow> = {}): DiffRow => ({
  from, to, file: `/srv/diffs/${from}-${to}.zfs.xz`, size: 1234, sha256: 'a'.repeat(64), builtAt: 7000, buildMs: 900, lastServedAt: 7000, served: 0, ...o,
});

async function pair(s: StoreSubject): Promise<{ a: FleetStore; b: FleetStore; open: () => Promise<FleetStore>; close: () => Promise<void> }> {
  const db = await s.fresh();
  const a = await db.open();
  const b = await db.open();
  return { a, b, open: db.open, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

export function fleetStoreContract(name: string, subject: StoreSubject): void {
  describe(`FleetStore contract: ${name}`, () => {
    it('devices: a row round-trips every field, is seen by the other instance, lists by id, null when unknown', async () => {
      const { a, b, close } = await pair(subject);
      try {
        const full = device('dev-2', { deploymentVersion: 17, deploymentPhase: 'trial', errorCode: 'E_HEALTH', errorMessage: 'ünïcode "quoted"', trial: { version: 16, outcome: 'rolled_back', reason: 'E_HEALTH' } });
        await a.upsertDevice(full);
        await a.upsertDevice(device('dev-1'));
        expect(await b.device('dev-2')).toEqual(full);
        expect(await b.device('nope')).toBeNull();
        expect((await b.devices()).map((d) => d.id)).toEqual(['dev-1', 'dev-2']);
        await b.upsertDevice({ ...full, checkins: 2, lastSeen: 2000 });
        expect(await a.device('dev-2')).toMatchObject({ checkins: 2, lastSeen: 2000 });
      } finally {
        await close();
      }
    });

    it('deploymentCounts and committedCounts: the aggregates equal what the pure functions compute from devices()', async () => {
      const { a, b, close } = await pair(subject);
      try {
        const phases = [null, 'downloading', 'trial', 'committed', 'failed', 'rolled_back'];
        for (let i = 0; i < 90; i++) {
          await (i % 2 ? a : b).upsertDevice(device(`dev-${i}`, {
            channel: i % 7 === 0 ? 'beta' : 'stable', hardware: i % 5 === 0 ? 'hw-b' : 'hw-a', committedVersion: i % 11 === 0 ? null : 12 + (i % 3),
            deploymentVersion: i % 4 === 0 ? null : 16 + (i % 3), deploymentPhase: i % 4 === 0 ? null : (phases[i % 6] ?? null),
          }));
        }
        await a.setPin('dev-3', 16);
        await a.setPin('dev-6', null);
        const rs = [await a.createRollout(rollout({ version: 17 })), await a.createRollout(rollout({ version: 18, state: 'paused' })),
          await a.createRollout(rollout({ channel: 'beta', version: 16 })), await a.createRollout(rollout({ hardware: 'hw-b', version: 99 }))];
        const devices = await b.devices();
        const order = (c: DeploymentCount[]): DeploymentCount[] => [...c].sort((x, y) => `${x.channel}/${x.hardware}/${x.version}`.localeCompare(`${y.channel}/${y.hardware}/${y.version}`));
        const counts = await b.deploymentCounts();
        expect(order(counts)).toEqual(order(deploymentCounts(devices)));
        expect(counts.length).toBeGreaterThanOrEqual(10);
        for (const r of rs) expect(healthOf(r, counts)).toEqual(rolloutHealth(r, devices));
        expect(counts.some((c) => c.failed > 0) && counts.some((c) => c.committed > 0)).toBe(true);
        expect(await a.committedCounts()).toEqual(committedCounts(devices));
      } finally {
        await close();
      }
      const empty = await pair(subject);
      try {
        expect(await empty.a.deploymentCounts()).toEqual([]);
        expect(await empty.b.committedCounts()).toEqual(new Map());
      } finally {
        await empty.close();
      }
    });

    it('recordCheckin: concurrent check-ins of one device through two instances lose no update; null writes nothing', async () => {
      const { a, b, close } = await pair(subject);
      try {
        const bump = (prev: DeviceRow | null): DeviceRow => device('dev-x', { checkins: (prev?.checkins ?? 0) + 1, firstSeen: prev?.firstSeen ?? 1 });
        const all = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).recordCheckin('dev-x', bump)));
        expect(all.map((d) => d?.checkins).sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        expect((await a.device('dev-x'))?.checkins).toBe(40);
        expect(await b.recordCheckin('dev-y', () => null)).toBeNull();
        expect(await a.device('dev-y')).toBeNull();
      } finally {
        await close();
      }
    });

    it('rollouts: ids, patches merge, an unknown id is E_USAGE, a stale ifChangedAt changes nothing', async () => {
      const { a, b, close } = await pair(subject);
      try {
        const r = await a.createRollout(rollout());
        const r2 = await b.createRollout(rollout({ version: 18, percent: 12.5 }));
        expect(r2.id).not.toBe(r.id);
        expect(await b.updateRollout(r.id, { state: 'paused', pausedReason: 'operator', changedAt: 6000 })).toEqual({ ...r, state: 'paused', pausedReason: 'operator', changedAt: 6000 });
        expect(await a.updateRollout(r.id, { percent: 90, changedAt: 7000 }, 5000)).toMatchObject({ percent: 10, changedAt: 6000, state: 'paused' });
        expect(await a.updateRollout(r.id, { percent: 20, changedAt: 7000 }, 6000)).toMatchObject({ percent: 20, changedAt: 7000, state: 'paused' });
        expect(await b.rollouts()).toEqual([{ ...r, percent: 20, state: 'paused', pausedReason: 'operator', changedAt: 7000 }, r2]);
        await expect(a.updateRollout(999, { percent: 1 })).rejects.toMatchObject({ code: 'E_USAGE' });
      } finally {
        await close();
      }
    });

    it('rollouts: one schedule step applies once when both instances take it from the same read', async () => {
      const { a, b, close } = await pair(subject);
      try {
        const r = await a.createRollout(rollout());
        const out = await Promise.all([a, b, a, b].map((s, i) => s.updateRollout(r.id, { percent: 20 + i, changedAt: 9000 + i }, r.changedAt)));
        const stored = (await a.rollouts())[0];
        expect(out.filter((o) => o.changedAt === stored?.changedAt && o.percent === stored.percent)).toHaveLength(4);
        expect(stored?.changedAt).toBeGreaterThanOrEqual(9000);
      } finally {
        await close();
      }
    });

    it('pins and holds', async () => {
      const { a, b, close } = await pair(subject);
      try {
        await a.setPin('d1', 15);
        await a.setPin('d2', null);
        await b.setPin('d1', 16);
        expect(await b.pins()).toEqual(new Map([['d1', 16], ['d2', null]]));
        await b.removePin('d1');
        expect(await a.pins()).toEqual(new Map([['d2', null]]));
        await a.setHold(17, true);
        await b.setHold(17, true);
        await a.setHold(18, true);
        await b.setHold(18, false);
        expect(await a.holds()).toEqual(new Set([17]));
      } finally {
        await close();
      }
    });

    it('diffs: put replaces, lists by builtAt, touch counts; removal only of the build read, once across instances', async () => {
      const { a, b, close } = await pair(subject);
      try {
        await a.putDiff(diffRow(12, 17, { builtAt: 8000 }));
        await b.putDiff(diffRow(11, 17, { builtAt: 7500, size: 5_000_000_000 }));
        expect((await a.diffs()).map((d) => [d.from, d.size])).toEqual([[11, 5_000_000_000], [12, 1234]]);
        await Promise.all([a.touchDiff(12, 17, 9000), b.touchDiff(12, 17, 9100), a.touchDiff(12, 17, 9050)]);
        expect(await b.diff(12, 17)).toMatchObject({ served: 3, lastServedAt: 9100 });
        expect(await a.diff(1, 2)).toBeNull();
        expect(await a.removeDiff(12, 17, 1)).toBe(false);
        const gone = await Promise.all([a.removeDiff(12, 17, 8000), b.removeDiff(12, 17, 8000)]);
        expect(gone.filter(Boolean)).toHaveLength(1);
        expect(await b.diff(12, 17)).toBeNull();
      } finally {
        await close();
      }
    });

    it('build claims: one winner among concurrent claims, renew only by the owner, a lapsed lease is taken over', async () => {
      const { a, b, close } = await pair(subject);
      try {
        const won = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).claimBuild({ from: 12, to: 17, owner: `o${i}`, now: 1000, expiresAt: 5000 })));
        expect(won.filter(Boolean)).toHaveLength(1);
        const owner = `o${won.indexOf(true)}`;
        expect(await a.buildClaim(12, 17)).toEqual({ from: 12, to: 17, owner, state: 'building', at: 1000, expiresAt: 5000, code: null, message: null });
        expect(await b.renewBuild(12, 17, 'someone-else', 2000, 9000)).toBe(false);
        expect(await b.renewBuild(12, 17, owner, 2000, 9000)).toBe(true);
        expect(await a.claimBuild({ from: 12, to: 17, owner: 'late', now: 8999, expiresAt: 20_000 })).toBe(false);
        expect(await a.claimBuild({ from: 12, to: 17, owner: 'late', now: 9000, expiresAt: 20_000 })).toBe(true);
        expect(await b.renewBuild(12, 17, owner, 9500, 30_000)).toBe(false);
        await b.finishBuild(12, 17, owner, null); // not the owner any more: nothing changes
        expect((await a.buildClaim(12, 17))?.owner).toBe('late');
        await a.finishBuild(12, 17, 'late', null);
        expect(await b.buildClaim(12, 17)).toBeNull();
        expect(await b.buildClaim(1, 2)).toBeNull();
      } finally {
        await close();
      }
    });

    it('build claims: a failure is kept (code, message) until its expiry, then the pair can be claimed again', async () => {
      const { a, b, close } = await pair(subject);
      try {
        expect(await a.claimBuild({ from: 3, to: 4, owner: 'x', now: 100, expiresAt: 1000 })).toBe(true);
        await a.finishBuild(3, 4, 'x', { code: 'E_DIFF_BUILD', message: 'zfs send failed', at: 200, expiresAt: 3600 });
        expect(await b.buildClaim(3, 4)).toEqual({ from: 3, to: 4, owner: 'x', state: 'failed', at: 200, expiresAt: 3600, code: 'E_DIFF_BUILD', message: 'zfs send failed' });
        expect(await b.renewBuild(3, 4, 'x', 300, 4000)).toBe(false);
        expect(await b.claimBuild({ from: 3, to: 4, owner: 'y', now: 3599, expiresAt: 9000 })).toBe(false);
        expect(await b.claimBuild({ from: 3, to: 4, owner: 'y', now: 3600, expiresAt: 9000 })).toBe(true);
        expect(await a.buildClaim(3, 4)).toMatchObject({ owner: 'y', state: 'building', code: null, message: null });
      } finally {
        await close();
      }
    });

    it('the schema is created once and kept: a store opened on a used database reads what was written', async () => {
      const db = await subject.fresh();
      const [a, b] = await Promise.all([db.open(), db.open()]);
      await a.upsertDevice(device('kept'));
      await a.putDiff(diffRow(1, 2));
      await Promise.all([a.close(), b.close()]);
      const c = await db.open();
      try {
        expect(await c.device('kept')).toEqual(device('kept'));
        expect(await c.diff(1, 2)).toEqual(diffRow(1, 2));
      } finally {
        await c.close();
      }
    });
  });
}
