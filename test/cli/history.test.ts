// `upgradectl history` on a real state database: the line (and the JSON field) saying older rows were pruned.
import { describe, it, expect } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config.js';
import { openStateDb } from '../../src/state/db.js';
import { Store } from '../../src/state/store.js';
import { historyCommand } from '../../src/cli/commands/status.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

/** A state directory whose journal got `appends` rows, at one second apart, with at most 100 kept. */
function device(appends: number) {
  const stateDir = mkdtempSync(join(tmpdir(), 'ua-history-'));
  const db = openStateDb(stateDir);
  let t = T0;
  const store = new Store(db, () => t, { journalMaxRows: 100 });
  for (let i = 1; i <= appends; i++) {
    t = T0 + i * 1000;
    store.journal('checked-in', null, { i });
  }
  db.close();
  return parseConfig({ deviceId: 'd', hardware: 'h', zfs: { pool: 'p' }, paths: { stateDir } });
}

describe('history', () => {
  it('starts with a line saying how many older rows were pruned and from when the kept ones are', () => {
    const out = historyCommand(device(130), false).split('\n');
    expect(out[0]).toBe('(30 older journal rows pruned, through #30; oldest kept from 2026-01-01T00:00:31.000Z)');
    expect(out).toHaveLength(1 + 100);
    expect(out[1]).toBe('2026-01-01T00:00:31.000Z #- checked-in {"i":31}');
  });

  it('has no such line while nothing was pruned', () => {
    const out = historyCommand(device(3), false).split('\n');
    expect(out).toEqual(['2026-01-01T00:00:01.000Z #- checked-in {"i":1}', '2026-01-01T00:00:02.000Z #- checked-in {"i":2}', '2026-01-01T00:00:03.000Z #- checked-in {"i":3}']);
  });

  it('--json keeps { schema, entries } and adds pruned (null while nothing was pruned)', () => {
    const v = JSON.parse(historyCommand(device(130), true)) as { schema: number; entries: { id: number; at: string }[]; pruned: unknown };
    expect(v.schema).toBe(1);
    expect(v.entries).toHaveLength(100);
    expect(v.entries[0]).toMatchObject({ id: 31, at: '2026-01-01T00:00:31.000Z' });
    expect(v.pruned).toEqual({ rows: 30, throughId: 30, throughAt: '2026-01-01T00:00:30.000Z', oldestKeptAt: '2026-01-01T00:00:31.000Z' });
    expect((JSON.parse(historyCommand(device(3), true)) as { pruned: unknown }).pruned).toBeNull();
  });
});
