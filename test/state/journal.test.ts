// Journal retention on a real SQLite file: count and age bounds, the active deployment spared, the pruned record, atomicity.
import { describe, it, expect } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStateDb, openStateDbReadOnly, type Db } from '../../src/state/db.js';
import { Store, type StoreOptions } from '../../src/state/store.js';
import { JOURNAL_BEYOND_BOUNDS } from '../../src/state/journal.js';
import { parseConfig } from '../../src/config.js';
import { wireDevice } from '../../src/wiring.js';

const DAY = 24 * 3600 * 1000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const newDep = { version: 2, label: 'v2', manifestUrl: 'https://x/m', envelope: Buffer.from('{}'), payloadSha256: 'a'.repeat(64), imageSize: 10, imageSha256: 'b'.repeat(64) };

function fresh(opts: StoreOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'ua-journal-'));
  const db = openStateDb(dir);
  const clock = { t: T0 };
  return { dir, db, clock, store: new Store(db, () => clock.t, opts) };
}

const count = (db: Db): number => (db.prepare('SELECT COUNT(*) AS n FROM journal').get() as { n: number }).n;
const ids = (db: Db): number[] => (db.prepare('SELECT id FROM journal ORDER BY id').all() as { id: number }[]).map((r) => r.id);

describe('journal retention', () => {
  it('keeps at most journalMaxRows rows, the newest, after every append (seen by a second connection)', () => {
    const { dir, db, store } = fresh({ journalMaxRows: 100 });
    const reader = openStateDbReadOnly(dir)!;
    for (let i = 1; i <= 350; i++) {
      store.journal('checked-in', null, { i });
      expect(count(reader)).toBe(Math.min(i, 100));
    }
    expect(ids(db)).toEqual(Array.from({ length: 100 }, (_, k) => 251 + k));
    expect(store.history(1)[0]?.data).toEqual({ i: 350 });
    reader.close();
  });

  it('removes rows older than journalMaxAgeDays by the injected clock, and keeps the one at the limit', () => {
    const { db, clock, store } = fresh({ journalMaxAgeDays: 30 });
    store.journal('checked-in', null, { row: 'old' }); // T0
    clock.t = T0 + 10 * DAY;
    store.journal('checked-in', null, { row: 'edge' }); // exactly 30 days old at the last append
    clock.t = T0 + 29 * DAY;
    store.journal('checked-in', null, { row: 'young' });
    expect(count(db)).toBe(3);
    clock.t = T0 + 40 * DAY;
    store.journal('checked-in', null, { row: 'now' });
    expect(store.history(10).map((e) => (e.data as { row: string }).row)).toEqual(['now', 'young', 'edge']);
    expect(store.journalPruned()).toEqual({ rows: 1, throughId: 1, throughAt: T0 });
  });

  it("spares the active deployment's rows from both bounds until it ends", () => {
    const { db, clock, store } = fresh({ journalMaxRows: 100, journalMaxAgeDays: 1 });
    const old = store.create({ ...newDep, version: 1 });
    store.transition(old.id, 'failed', { reasonCode: 'E_DOWNLOAD_HASH', reason: 'bad' });
    const d = store.create(newDep); // active: pending
    store.transition(d.id, 'downloading');
    store.journal('stream-selected', d.id, { from: 1 });
    clock.t = T0 + 5 * DAY; // every row so far is past the age bound
    for (let i = 0; i < 300; i++) store.journal('checked-in', null, { i }); // and far past the count bound
    const spared = store.history(10, d.id).map((e) => e.event);
    expect(spared).toEqual(['stream-selected', 'phase', 'created']);
    expect(store.history(10, old.id)).toEqual([]);
    expect(count(db)).toBe(100 + 3);
    // Once it ends it is no longer active: its old rows go with the transition's own append (the newest stays).
    store.transition(d.id, 'failed', { reasonCode: 'E_DOWNLOAD_HASH', reason: 'bad' });
    expect(store.history(10, d.id).map((e) => `${e.phaseFrom}->${e.phaseTo}`)).toEqual(['downloading->failed']);
    expect(count(db)).toBe(100);
  });

  it('keeps the pruned record (total rows, newest pruned id and time) across a reopen, read-write and read-only', () => {
    const { dir, db, clock, store } = fresh({ journalMaxRows: 100 });
    expect(store.journalPruned()).toBeNull();
    for (let i = 1; i <= 130; i++) {
      clock.t = T0 + i * 1000;
      store.journal('checked-in', null, { i });
    }
    // Rows 1..30 pruned; the newest pruned is #30, written at T0 + 30 s.
    expect(store.journalPruned()).toEqual({ rows: 30, throughId: 30, throughAt: T0 + 30_000 });
    expect(store.journalOldestAt()).toBe(T0 + 31_000);
    db.close();
    const again = openStateDb(dir);
    expect(new Store(again).journalPruned()).toEqual({ rows: 30, throughId: 30, throughAt: T0 + 30_000 });
    new Store(again, () => T0 + 200_000, { journalMaxRows: 100 }).journal('checked-in', null);
    expect(new Store(again).journalPruned()).toEqual({ rows: 31, throughId: 31, throughAt: T0 + 31_000 });
    again.close();
    const ro = openStateDbReadOnly(dir)!;
    expect(new Store(ro).journalPruned()).toEqual({ rows: 31, throughId: 31, throughAt: T0 + 31_000 });
    ro.close();
  });

  it('does not move throughId back when rows spared for an active deployment are pruned later', () => {
    const { clock, store } = fresh({ journalMaxAgeDays: 1 });
    const d = store.create(newDep); // #1 at T0, spared while active
    store.journal('checked-in', null); // #2 at T0
    clock.t = T0 + 2 * DAY;
    store.journal('checked-in', null); // #3: prunes #2 by age
    expect(store.journalPruned()).toEqual({ rows: 1, throughId: 2, throughAt: T0 });
    store.transition(d.id, 'cancelled'); // #4: #1 goes now, below the id already pruned through
    expect(store.journalPruned()).toEqual({ rows: 2, throughId: 2, throughAt: T0 });
    expect(store.history(10).map((e) => e.id)).toEqual([4, 3]);
  });

  it('prunes in the same transaction as the insert: a prune that fails undoes the insert, the phase change, the creation', () => {
    const { db, store } = fresh({ journalMaxRows: 100 });
    const done = store.create({ ...newDep, version: 1 }); // #1, prunable once failed
    store.transition(done.id, 'failed', { reasonCode: 'E_DOWNLOAD_HASH', reason: 'bad' });
    const d = store.create(newDep); // #3, active
    for (let i = 0; i < 97; i++) store.journal('checked-in', null); // 100 rows: the next append prunes #1
    db.exec(`CREATE TEMP TRIGGER refuse_prune BEFORE DELETE ON journal BEGIN SELECT RAISE(ABORT, 'prune refused'); END`);
    expect(() => store.journal('checked-in', null)).toThrow(/prune refused/);
    expect(() => store.transition(d.id, 'downloading')).toThrow(/prune refused/);
    expect(() => store.create({ ...newDep, version: 3 })).toThrow(/prune refused/);
    expect(count(db)).toBe(100);
    expect(store.get(d.id).phase).toBe('pending');
    expect(store.list().map((x) => x.version)).toEqual([2, 1]);
    expect(store.journalPruned()).toBeNull();
    db.exec('DROP TRIGGER refuse_prune');
    store.transition(d.id, 'downloading');
    expect(count(db)).toBe(100);
    expect(ids(db)[0]).toBe(2);
  });

  it('finds the rows to prune through the id key and the at index, never by scanning the journal', () => {
    const { db, clock, store } = fresh({});
    for (let i = 0; i < 500; i++) {
      clock.t = T0 + i;
      store.journal('checked-in', i % 2 ? null : 1);
    }
    db.exec('ANALYZE');
    const params = { cutId: 250, cutAt: T0 + 100, keep: 1 };
    for (const sql of [`SELECT COUNT(*), MAX(id) FROM journal WHERE ${JOURNAL_BEYOND_BOUNDS}`, `DELETE FROM journal WHERE ${JOURNAL_BEYOND_BOUNDS}`]) {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[]).map((r) => r.detail);
      expect(plan.filter((d) => d.startsWith('SCAN'))).toEqual([]);
      expect(plan.join('\n')).toContain('journal_by_at');
    }
  });

  it("the agent's store takes its limits from the config (state.journalMaxRows)", () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'ua-journal-wired-'));
    const config = parseConfig({ deviceId: 'd', hardware: 'h', zfs: { pool: 'p' }, paths: { stateDir }, logLevel: 'silent', state: { journalMaxRows: 100 } });
    const wired = wireDevice(config);
    const { store } = wired.device;
    try {
      for (let i = 0; i < 130; i++) store.journal('checked-in', null);
      expect(store.history(500)).toHaveLength(100);
      expect(store.journalPruned()?.rows).toBe(30);
    } finally {
      wired.close();
    }
  });
});
