// The state store on a real SQLite file: WAL/FULL, refused transitions, journal, rising floors, reopen.
import { describe, it, expect } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStateDb, openStateDbReadOnly } from '../../src/state/db.js';
import { Store } from '../../src/state/store.js';
import { StateError } from '../../src/errors.js';

function fresh() {
  const dir = mkdtempSync(join(tmpdir(), 'ua-store-'));
  const db = openStateDb(dir);
  return { dir, db, store: new Store(db) };
}

const newDep = { version: 2, label: 'v2', manifestUrl: 'https://x/m', envelope: Buffer.from('{}'), payloadSha256: 'a'.repeat(64), imageSize: 10, imageSha256: 'b'.repeat(64) };

describe('Store', () => {
  it('opens in WAL with synchronous=FULL', () => {
    const { db } = fresh();
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('creates, transitions and journals; refuses illegal edges without changing anything', () => {
    const { store } = fresh();
    const d = store.create(newDep);
    expect(d.phase).toBe('pending');
    store.transition(d.id, 'downloading', { downloadUrl: 'https://x/s' });
    expect(() => store.transition(d.id, 'ready')).toThrow(StateError);
    const after = store.get(d.id);
    expect(after.phase).toBe('downloading');
    expect(after.downloadUrl).toBe('https://x/s');
    const events = store.history(10, d.id).map((e) => `${e.phaseFrom}->${e.phaseTo}`);
    expect(events).toEqual(['pending->downloading', 'null->pending']);
    expect(store.active()?.id).toBe(d.id);
    store.transition(d.id, 'failed', { reasonCode: 'E_DOWNLOAD_HASH', reason: 'bad' });
    expect(store.active()).toBeNull();
    expect(store.history(1, d.id)[0]?.data).toEqual({ code: 'E_DOWNLOAD_HASH', reason: 'bad' });
  });

  it('raises floors and never lowers them', () => {
    const { store } = fresh();
    store.raiseFloors(5, '2026-01-02T00:00:00Z');
    store.raiseFloors(3, '2025-01-01T00:00:00Z');
    expect(store.getFloor('version')).toBe('5');
    expect(store.getFloor('issued')).toBe('2026-01-02T00:00:00Z');
    store.raiseFloors(10, '2026-03-01T00:00:00.000Z');
    expect(store.getFloor('version')).toBe('10');
  });

  it('is readable read-only by a second connection (status with the daemon down)', () => {
    const { dir, store } = fresh();
    store.create(newDep);
    const ro = openStateDbReadOnly(dir);
    expect(ro).not.toBeNull();
    expect(new Store(ro!).list()).toHaveLength(1);
    expect(openStateDbReadOnly(join(dir, 'nope'))).toBeNull();
  });

  it('keeps the meta keys older agents read: committed_version, verified-image:<v>, journal_pruned', () => {
    const { db, store } = fresh();
    const rows = () => Object.fromEntries((db.prepare('SELECT key, value FROM meta ORDER BY key').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    expect(store.committedVersion()).toBeNull();
    store.recordCommittedVersion(1);
    const identity = { dev: 1, ino: 2, size: 3, mtimeNs: '4', ctimeNs: '5' };
    store.setVerifiedImage(2, identity);
    expect(rows()).toEqual({ committed_version: '1', 'verified-image:2': JSON.stringify(identity) });
    expect(store.committedVersion()).toBe(1);
    expect(store.verifiedImage(2)).toEqual(identity);
    expect(store.verifiedImage(3)).toBeNull();
    const d = store.create(newDep);
    store.transition(d.id, 'cancelled', {}, 'phase', null, { committedVersion: 2 });
    expect(rows()['committed_version']).toBe('2');
    db.prepare("INSERT INTO meta (key, value) VALUES ('journal_pruned', ?)").run(JSON.stringify({ rows: 7, throughId: 7, throughAt: 9 }));
    expect(store.journalPruned()).toEqual({ rows: 7, throughId: 7, throughAt: 9 });
  });

  it('tells subscribers after each committed write, not after a refused one; a throwing subscriber fails nothing', () => {
    const { store } = fresh();
    const seen: string[] = [];
    store.subscribe(() => {
      throw new Error('observer broke');
    });
    const stop = store.subscribe((c) => {
      // the change is already visible to a reader when the subscriber hears of it
      if (c.kind === 'phase') expect(store.get(c.id).phase).toBe(c.to);
      seen.push(c.kind === 'phase' ? `phase:${c.from}->${c.to}` : c.kind === 'journal' ? `journal:${c.event}` : c.kind);
    });
    const d = store.create(newDep);
    store.transition(d.id, 'downloading');
    expect(() => store.transition(d.id, 'ready')).toThrow(StateError);
    store.update(d.id, { downloadedBytes: 10 });
    store.journal('checked-in', null);
    store.recordCommittedVersion(1);
    stop();
    store.journal('checked-in', null);
    expect(seen).toEqual(['created', 'phase:pending->downloading', 'update', 'journal:checked-in', 'committed-version']);
    expect(store.lastEventAt('checked-in')).not.toBeNull();
    expect(store.lastEventAt('cleanup')).toBeNull();
  });
});
