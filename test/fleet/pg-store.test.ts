// The FleetStore contract against PostgreSQL: a throwaway cluster (Debian's postgresql) in a temp dir, a fresh
// database per case, two pools on it (two server instances); plus opening errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgFleetStore, redactUrl } from '../../src/fleet/pg-store.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/postgres.js';
import { fleetStoreContract } from './fleet-store-contract.js';

let cluster: ThrowawayPostgres;
let n = 0;
beforeAll(async () => {
  cluster = await startThrowawayPostgres();
}, 180_000);
afterAll(async () => {
  await cluster?.stop();
}, 90_000);

fleetStoreContract('PostgreSQL', {
  fresh: async () => {
    const url = await cluster.createDatabase(`contract_${n++}`);
    return { open: () => PgFleetStore.open(url, { poolSize: 4 }) };
  },
});

describe('PostgreSQL store: opening', () => {
  it('a database that does not exist is E_STATE_DB, the password redacted', async () => {
    const url = cluster.url('no_such_db').replace('postgresql:///', 'postgresql://postgres:hunter2@/');
    const err = (await PgFleetStore.open(url, { connectTimeoutMs: 5000 }).catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('E_STATE_DB');
    expect(err.message).toMatch(/no_such_db/);
    expect(err.message).not.toMatch(/hunter2/);
  });

  it('a server nobody listens on fails within the connect deadline', async () => {
    const t0 = Date.now();
    const err = (await PgFleetStore.open('postgresql://127.0.0.1:1/fleet', { connectTimeoutMs: 2000 }).catch((e: unknown) => e)) as { code: string };
    expect(err.code).toBe('E_STATE_DB');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('redactUrl hides only the password', () => {
    expect(redactUrl('postgresql://fleet:s3cret@db.example:5432/fleet?sslmode=require')).toBe('postgresql://fleet:***@db.example:5432/fleet?sslmode=require');
    expect(redactUrl('postgresql://db.example/fleet')).toBe('postgresql://db.example/fleet');
  });

  it('a statement past its deadline is E_STATE_DB', async () => {
    const url = await cluster.createDatabase('deadline');
    const s = await PgFleetStore.open(url, { statementTimeoutMs: 300 });
    try {
      // Hold the device lock in another session so the check-in's lock wait runs past the statement timeout.
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [0x75610002, 'dev-locked']);
      const err = (await s.recordCheckin('dev-locked', () => null).catch((e: unknown) => e)) as { code: string; message: string };
      await c.query('ROLLBACK');
      await c.end();
      expect(err.code).toBe('E_STATE_DB');
      expect(err.message).toMatch(/statement timeout|canceling statement/);
    } finally {
      await s.close();
    }
  });
});
