// The embedded fleet database: one SQLite file (WAL), behind the FleetStore interface.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { StateError, UpgradeError, UsageError } from '../errors.js';
import type { BuildClaim, DeploymentCount, DeviceRow, DiffRow, FleetStore, RolloutPatch, RolloutRow } from './fleet-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, doc TEXT NOT NULL, last_seen INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS devices_deployment ON devices (json_extract(doc, '$.deploymentVersion'), json_extract(doc, '$.channel'),
  json_extract(doc, '$.hardware'), json_extract(doc, '$.deploymentPhase')) WHERE json_extract(doc, '$.deploymentVersion') IS NOT NULL;
CREATE INDEX IF NOT EXISTS devices_committed ON devices (json_extract(doc, '$.committedVersion'));
CREATE TABLE IF NOT EXISTS rollouts (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, hardware TEXT NOT NULL,
  version INTEGER NOT NULL, percent REAL NOT NULL, state TEXT NOT NULL, paused_reason TEXT, step_percent REAL NOT NULL,
  every_sec INTEGER NOT NULL, created_at INTEGER NOT NULL, changed_at INTEGER NOT NULL, UNIQUE (channel, hardware, version));
CREATE TABLE IF NOT EXISTS pins (device_id TEXT PRIMARY KEY, version INTEGER);
CREATE TABLE IF NOT EXISTS holds (version INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS diffs (from_v INTEGER NOT NULL, to_v INTEGER NOT NULL, file TEXT NOT NULL, size INTEGER NOT NULL,
  sha256 TEXT NOT NULL, built_at INTEGER NOT NULL, build_ms INTEGER NOT NULL, last_served_at INTEGER NOT NULL, served INTEGER NOT NULL,
  PRIMARY KEY (from_v, to_v));
CREATE TABLE IF NOT EXISTS diff_claims (from_v INTEGER NOT NULL, to_v INTEGER NOT NULL, owner TEXT NOT NULL, state TEXT NOT NULL,
  at INTEGER NOT NULL, expires_at INTEGER NOT NULL, code TEXT, message TEXT, PRIMARY KEY (from_v, to_v));
`;

interface RolloutDb {
  id: number; channel: string; hardware: string; version: number; percent: number; state: string; paused_reason: string | null;
  step_percent: number; every_sec: number; created_at: number; changed_at: number;
}
interface ClaimDb { from_v: number; to_v: number; owner: string; state: string; at: number; expires_at: number; code: string | null; message: string | null }
interface DiffDb { from_v: number; to_v: number; file: string; size: number; sha256: string; built_at: number; build_ms: number; last_served_at: number; served: number }

const rollout = (r: RolloutDb): RolloutRow => ({
  id: r.id, channel: r.channel, hardware: r.hardware, version: r.version, percent: r.percent, state: r.state === 'paused' ? 'paused' : 'active',
  pausedReason: r.paused_reason, stepPercent: r.step_percent, everySec: r.every_sec, createdAt: r.created_at, changedAt: r.changed_at,
});
const diff = (r: DiffDb): DiffRow => ({
  from: r.from_v, to: r.to_v, file: r.file, size: r.size, sha256: r.sha256, builtAt: r.built_at, buildMs: r.build_ms, lastServedAt: r.last_served_at, served: r.served,
});

const claim = (r: ClaimDb): BuildClaim => ({
  from: r.from_v, to: r.to_v, owner: r.owner, state: r.state === 'failed' ? 'failed' : 'building', at: r.at, expiresAt: r.expires_at, code: r.code, message: r.message,
});

export class SqliteFleetStore implements FleetStore {
  private readonly db: Database.Database;

  constructor(path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      this.db.exec(SCHEMA);
    } catch (err) {
      throw new StateError('E_STATE_DB', `cannot open the fleet database ${path}: ${(err as Error).message}`, { cause: err, context: { path } });
    }
  }

  private run<T>(what: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      if (err instanceof UpgradeError) return Promise.reject(err);
      return Promise.reject(new StateError('E_STATE_DB', `fleet database: ${what}: ${(err as Error).message}`, { cause: err }));
    }
  }

  upsertDevice(d: DeviceRow): Promise<void> {
    return this.run('upsert device', () => {
      this.db.prepare('INSERT INTO devices (id, doc, last_seen) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc, last_seen = excluded.last_seen')
        .run(d.id, JSON.stringify(d), d.lastSeen);
    });
  }
  recordCheckin(id: string, make: (prev: DeviceRow | null) => DeviceRow | null): Promise<DeviceRow | null> {
    // One process owns the file and better-sqlite3 is synchronous: the read and the write are one transaction, no await between.
    return this.run('record check-in', () => this.db.transaction(() => {
      const r = this.db.prepare('SELECT doc FROM devices WHERE id = ?').get(id) as { doc: string } | undefined;
      const next = make(r ? (JSON.parse(r.doc) as DeviceRow) : null);
      if (next === null) return null;
      this.db.prepare('INSERT INTO devices (id, doc, last_seen) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc, last_seen = excluded.last_seen')
        .run(next.id, JSON.stringify(next), next.lastSeen);
      return next;
    }).immediate());
  }
  device(id: string): Promise<DeviceRow | null> {
    return this.run('read device', () => {
      const r = this.db.prepare('SELECT doc FROM devices WHERE id = ?').get(id) as { doc: string } | undefined;
      return r ? (JSON.parse(r.doc) as DeviceRow) : null;
    });
  }
  devices(): Promise<DeviceRow[]> {
    return this.run('list devices', () => (this.db.prepare('SELECT doc FROM devices ORDER BY id').all() as { doc: string }[]).map((r) => JSON.parse(r.doc) as DeviceRow));
  }
  deploymentCounts(): Promise<DeploymentCount[]> {
    // Same terms as rollout.ts rolloutHealth; the partial index covers it (only devices with a deployment).
    return this.run('count deployments', () => (this.db.prepare(
      `SELECT json_extract(doc, '$.channel') AS channel, json_extract(doc, '$.hardware') AS hardware, json_extract(doc, '$.deploymentVersion') AS version,
         COUNT(*) AS reporting, SUM(json_extract(doc, '$.deploymentPhase') IN ('failed', 'rolled_back')) AS failed,
         SUM(json_extract(doc, '$.deploymentPhase') = 'committed') AS committed
       FROM devices WHERE json_extract(doc, '$.deploymentVersion') IS NOT NULL GROUP BY 1, 2, 3`,
    ).all() as DeploymentCount[]).map((r) => ({ ...r, failed: r.failed ?? 0, committed: r.committed ?? 0 })));
  }
  committedCounts(): Promise<Map<number, number>> {
    return this.run('count committed versions', () => new Map((this.db.prepare(
      "SELECT json_extract(doc, '$.committedVersion') AS v, COUNT(*) AS n FROM devices WHERE json_extract(doc, '$.committedVersion') IS NOT NULL GROUP BY 1",
    ).all() as { v: number; n: number }[]).map((r) => [r.v, r.n])));
  }

  createRollout(r: Omit<RolloutRow, 'id'>): Promise<RolloutRow> {
    return this.run('create rollout', () => {
      const { lastInsertRowid } = this.db.prepare(
        'INSERT INTO rollouts (channel, hardware, version, percent, state, paused_reason, step_percent, every_sec, created_at, changed_at) VALUES (?,?,?,?,?,?,?,?,?,?)',
      ).run(r.channel, r.hardware, r.version, r.percent, r.state, r.pausedReason, r.stepPercent, r.everySec, r.createdAt, r.changedAt);
      return { ...r, id: Number(lastInsertRowid) };
    });
  }
  updateRollout(id: number, patch: RolloutPatch, ifChangedAt?: number): Promise<RolloutRow> {
    return this.run('update rollout', () => this.db.transaction(() => {
      const cur = this.db.prepare('SELECT * FROM rollouts WHERE id = ?').get(id) as RolloutDb | undefined;
      if (!cur) throw new UsageError('E_USAGE', `no rollout ${id}`, { context: { id } });
      if (ifChangedAt !== undefined && cur.changed_at !== ifChangedAt) return rollout(cur);
      const next = { ...rollout(cur), ...patch };
      this.db.prepare('UPDATE rollouts SET percent = ?, state = ?, paused_reason = ?, step_percent = ?, every_sec = ?, changed_at = ? WHERE id = ?')
        .run(next.percent, next.state, next.pausedReason, next.stepPercent, next.everySec, next.changedAt, id);
      return next;
    }).immediate());
  }
  rollouts(): Promise<RolloutRow[]> {
    return this.run('list rollouts', () => (this.db.prepare('SELECT * FROM rollouts ORDER BY id').all() as RolloutDb[]).map(rollout));
  }

  setPin(deviceId: string, version: number | null): Promise<void> {
    return this.run('pin', () => void this.db.prepare('INSERT INTO pins VALUES (?, ?) ON CONFLICT(device_id) DO UPDATE SET version = excluded.version').run(deviceId, version));
  }
  removePin(deviceId: string): Promise<void> {
    return this.run('unpin', () => void this.db.prepare('DELETE FROM pins WHERE device_id = ?').run(deviceId));
  }
  pins(): Promise<Map<string, number | null>> {
    return this.run('list pins', () => new Map((this.db.prepare('SELECT device_id, version FROM pins').all() as { device_id: string; version: number | null }[]).map((r) => [r.device_id, r.version])));
  }
  setHold(version: number, held: boolean): Promise<void> {
    return this.run('hold', () => void (held ? this.db.prepare('INSERT OR IGNORE INTO holds VALUES (?)').run(version) : this.db.prepare('DELETE FROM holds WHERE version = ?').run(version)));
  }
  holds(): Promise<Set<number>> {
    return this.run('list holds', () => new Set((this.db.prepare('SELECT version FROM holds').all() as { version: number }[]).map((r) => r.version)));
  }

  putDiff(d: DiffRow): Promise<void> {
    return this.run('record diff', () => void this.db.prepare('INSERT OR REPLACE INTO diffs VALUES (?,?,?,?,?,?,?,?,?)')
      .run(d.from, d.to, d.file, d.size, d.sha256, d.builtAt, d.buildMs, d.lastServedAt, d.served));
  }
  diff(from: number, to: number): Promise<DiffRow | null> {
    return this.run('read diff', () => {
      const r = this.db.prepare('SELECT * FROM diffs WHERE from_v = ? AND to_v = ?').get(from, to) as DiffDb | undefined;
      return r ? diff(r) : null;
    });
  }
  diffs(): Promise<DiffRow[]> {
    return this.run('list diffs', () => (this.db.prepare('SELECT * FROM diffs ORDER BY built_at').all() as DiffDb[]).map(diff));
  }
  touchDiff(from: number, to: number, at: number): Promise<void> {
    return this.run('touch diff', () => void this.db.prepare('UPDATE diffs SET last_served_at = MAX(last_served_at, ?), served = served + 1 WHERE from_v = ? AND to_v = ?').run(at, from, to));
  }
  removeDiff(from: number, to: number, builtAt: number): Promise<boolean> {
    return this.run('remove diff', () => this.db.prepare('DELETE FROM diffs WHERE from_v = ? AND to_v = ? AND built_at = ?').run(from, to, builtAt).changes === 1);
  }

  claimBuild(c: { from: number; to: number; owner: string; now: number; expiresAt: number }): Promise<boolean> {
    return this.run('claim build', () => this.db.prepare(
      `INSERT INTO diff_claims (from_v, to_v, owner, state, at, expires_at) VALUES (?, ?, ?, 'building', ?, ?)
       ON CONFLICT (from_v, to_v) DO UPDATE SET owner = excluded.owner, state = 'building', at = excluded.at, expires_at = excluded.expires_at, code = NULL, message = NULL
       WHERE diff_claims.expires_at <= excluded.at`,
    ).run(c.from, c.to, c.owner, c.now, c.expiresAt).changes === 1);
  }
  buildClaim(from: number, to: number): Promise<BuildClaim | null> {
    return this.run('read build claim', () => {
      const r = this.db.prepare('SELECT * FROM diff_claims WHERE from_v = ? AND to_v = ?').get(from, to) as ClaimDb | undefined;
      return r ? claim(r) : null;
    });
  }
  renewBuild(from: number, to: number, owner: string, now: number, expiresAt: number): Promise<boolean> {
    return this.run('renew build claim', () => this.db.prepare("UPDATE diff_claims SET at = ?, expires_at = ? WHERE from_v = ? AND to_v = ? AND owner = ? AND state = 'building'")
      .run(now, expiresAt, from, to, owner).changes === 1);
  }
  finishBuild(from: number, to: number, owner: string, failure: { code: string; message: string; at: number; expiresAt: number } | null): Promise<void> {
    return this.run('finish build claim', () => void (failure === null
      ? this.db.prepare('DELETE FROM diff_claims WHERE from_v = ? AND to_v = ? AND owner = ?').run(from, to, owner)
      : this.db.prepare("UPDATE diff_claims SET state = 'failed', at = ?, expires_at = ?, code = ?, message = ? WHERE from_v = ? AND to_v = ? AND owner = ?")
        .run(failure.at, failure.expiresAt, failure.code, failure.message, from, to, owner)));
  }
  close(): Promise<void> {
    return this.run('close', () => void this.db.close());
  }
}
