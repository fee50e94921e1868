// The FleetStore contract against the embedded SQLite store: two connections on one WAL file in a temp dir.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteFleetStore } from '../../src/fleet/sqlite-store.js';
import { fleetStoreContract } from './fleet-store-contract.js';

const root = mkdtempSync(join(tmpdir(), 'fleet-sqlite-'));
let n = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

fleetStoreContract('SQLite', {
  fresh: async () => {
    const path = join(root, `db${n++}`, 'fleet.db');
    return { open: async () => new SqliteFleetStore(path) };
  },
});

describe('SQLite store: opening', () => {
  it('a path it cannot create is E_STATE_DB naming the path', () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'not a directory');
    expect(() => new SqliteFleetStore(join(file, 'sub', 'fleet.db'))).toThrow(expect.objectContaining({ code: 'E_STATE_DB', message: expect.stringContaining('a-file/sub/fleet.db') }));
  });
});
