// acceptManifest on a real state store: a far-future `issued` cannot freeze a device, and the floor still protects.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { acceptManifest } from '../../src/core/accept.js';
import { silentLogger } from '../../src/log.js';
import { KernelBootInfo } from '../../src/adapters/boot.js';
import { openStateDb } from '../../src/state/db.js';
import { Store } from '../../src/state/store.js';
import type { Manifest } from '../../src/trust/manifest-types.js';
import { FIXTURE_CHANNEL, FIXTURE_HARDWARE, makeKeys, makeManifest, signManifest } from '../support/manifest-fixture.js';
import { refusal } from '../support/refusal.js';

const T = Date.parse('2030-06-01T00:00:00Z');
const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
const iso = (ms: number): string => new Date(ms).toISOString();
const { keys, trusted } = makeKeys(1);

/** A device with an empty store whose clock reads whatever `clock.now` is set to. */
function device() {
  const dir = mkdtempSync(join(tmpdir(), 'ua-accept-'));
  const db = openStateDb(dir);
  const store = new Store(db);
  const config = parseConfig({
    deviceId: 'd1',
    hardware: FIXTURE_HARDWARE,
    channel: FIXTURE_CHANNEL,
    zfs: { pool: 'tank' },
    paths: { hostRoot: dir },
    boot: { cmdlineFile: join(dir, 'no-cmdline') },
    trust: { keys: trusted },
  });
  const clock = { now: T };
  const deps = { config, store, log: silentLogger(), now: () => clock.now, boot: new KernelBootInfo(config.boot.cmdlineFile, config.boot.imageParam) };
  const accept = (m: Partial<Manifest>) => acceptManifest(deps, signManifest(makeManifest(m), keys), null);
  return { db, store, clock, config, accept };
}

describe('acceptManifest: the clock floor', () => {
  it('defaults trust.maxClockAheadSec to one day', () => {
    expect(device().config.trust.maxClockAheadSec).toBe(86400);
  });

  it('raises the floor to a past issued exactly as signed', () => {
    const { store, accept } = device();
    const issued = '2030-05-31T00:00:00.000Z';
    accept({ version: 2, issued, expires: iso(T + 30 * DAY) });
    expect(store.getFloor('issued')).toBe(issued);
  });

  it('accepts a manifest issued in 2099, stores the floor at most a day ahead, and then accepts a normal one', () => {
    const { store, clock, accept } = device();
    const future = accept({ version: 2, issued: '2099-01-01T00:00:00Z', expires: '2099-02-01T00:00:00Z' });
    expect(future.decision.kind).toBe('start');
    expect(store.getFloor('issued')).toBe(iso(T + DAY));
    expect(store.getFloor('version')).toBe('2');
    clock.now = T + 2 * HOUR;
    const normal = accept({ version: 3, issued: iso(T + HOUR), expires: iso(T + 30 * DAY) });
    expect(normal.deployment?.version).toBe(3);
  });

  it('does not let a poisoned floor row (an older agent stored 2099) expire a current manifest; the row stays', () => {
    const { db, store, accept } = device();
    db.prepare('INSERT OR REPLACE INTO floors (name, value) VALUES (?, ?)').run('issued', '2099-01-01T00:00:00Z');
    const out = accept({ version: 2, issued: iso(T - DAY), expires: iso(T + 30 * DAY) });
    expect(out.deployment?.version).toBe(2);
    expect(store.getFloor('issued')).toBe('2099-01-01T00:00:00Z'); // persisted data only grows: capped at use, not deleted
  });

  it('still refuses, under a poisoned floor, a manifest that expired before now (E_MANIFEST_EXPIRED)', () => {
    const { db, accept } = device();
    db.prepare('INSERT OR REPLACE INTO floors (name, value) VALUES (?, ?)').run('issued', '2099-01-01T00:00:00Z');
    expect(refusal(() => accept({ version: 2, issued: iso(T - 30 * DAY), expires: iso(T - HOUR) })).code).toBe('E_MANIFEST_EXPIRED');
  });

  it('keeps the floor for a clock that falls back: a manifest that expired before the floor is refused', () => {
    const { store, clock, accept } = device();
    accept({ version: 2, issued: iso(T), expires: iso(T + 30 * DAY) });
    expect(store.getFloor('issued')).toBe(iso(T));
    clock.now = T - 12 * HOUR; // the device clock is set back half a day
    const stale = { version: 3, issued: iso(T - 30 * DAY), expires: iso(T - 6 * HOUR) }; // expired by the floor, not by the clock
    const err = refusal(() => accept(stale));
    expect(err.code).toBe('E_MANIFEST_EXPIRED');
    expect(err.context).toMatchObject({ effectiveNow: iso(T), clockFloorUsed: true, clockFloorCapped: false });
  });
});
