// The state database is root's alone: state.db, -wal and -shm are 0600 (new or left 0644 by an older agent), the dir 0700.
import { describe, it, expect } from 'vitest';
import { chmodSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStateDb } from '../../src/state/db.js';
import { Store } from '../../src/state/store.js';
import { acquireRunnerLock } from '../../src/state/runner-lock.js';

const mode = (p: string) => statSync(p).mode & 0o777;

describe('state files', () => {
  it('creates the state dir 0700 and state.db, -wal and -shm 0600 under a permissive umask', () => {
    const old = process.umask(0o022);
    try {
      const stateDir = join(mkdtempSync(join(tmpdir(), 'ua-dbmode-')), 'state');
      const db = openStateDb(stateDir);
      new Store(db).journal('checked-in', null, {});
      expect(mode(stateDir)).toBe(0o700);
      for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) expect(mode(join(stateDir, f)), f).toBe(0o600);
      db.close();
    } finally {
      process.umask(old);
    }
  });

  it('makes world-readable files of an existing database 0600 when it opens them', () => {
    const stateDir = join(mkdtempSync(join(tmpdir(), 'ua-dbmode-')), 'state');
    const first = openStateDb(stateDir);
    new Store(first).journal('checked-in', null, {});
    for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) chmodSync(join(stateDir, f), 0o644);
    const again = openStateDb(stateDir);
    for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) expect(mode(join(stateDir, f)), f).toBe(0o600);
    again.close();
    first.close();
  });

  it('the runner lock creates a missing state dir 0700 too', () => {
    const old = process.umask(0o022);
    try {
      const stateDir = join(mkdtempSync(join(tmpdir(), 'ua-lockmode-')), 'state');
      const release = acquireRunnerLock(stateDir);
      expect(mode(stateDir)).toBe(0o700);
      release();
    } finally {
      process.umask(old);
    }
  });
});
