// Soak: the daemon against a fleet server that misbehaves a different way each day of a simulated week.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFleet, makeDevice, type Fleet, type Device } from '../support/device-sandbox.js';
import { SimClock } from '../support/sim-clock.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { wireDevice } from '../../src/wiring.js';
import { parseConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import type { FaultHooks } from '../../src/fleet/server.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// A full collection before each heap reading, so the figures say what is retained, not when the GC last ran.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const HOUR = 3_600_000;
const MIN_DELAY_SEC = 30;
const ENDPOINTS = { checkin: '/v1/checkin', manifest2: '/manifests/2.json', stream2: '/streams/1-2.zfs.xz', manifest3: '/manifests/3.json', stream3: '/streams/1-3.zfs.xz' };

/** What the server does wrong on each day (faults are replaced whole at midnight). */
const DAYS: { name: string; target: number; faults: FaultHooks }[] = [
  { name: 'stream 202 + Retry-After: 0', target: 2, faults: { pending: new Map([[ENDPOINTS.stream2, Infinity]]), retryAfter: '0' } },
  { name: 'check-in 503 + Retry-After: 0', target: 2, faults: { checkinRetryAfter: '0' } },
  { name: 'manifest 202 + a past Retry-After date', target: 2, faults: { pending: new Map([[ENDPOINTS.manifest2, Infinity]]), retryAfter: 'Thu, 01 Jan 1970 00:00:00 GMT' } },
  { name: 'manifest dripped at 1 B/s', target: 2, faults: { paths: [ENDPOINTS.manifest2], dripBytesPerSec: 1 } },
  { name: 'check-in redirected to http://', target: 2, faults: { redirects: new Map([[ENDPOINTS.checkin, 'http://127.0.0.1:9/v1/checkin']]) } },
  { name: 'new release, its stream stalls', target: 3, faults: { paths: [ENDPOINTS.stream3], hangAfterBytes: 4096 } },
  { name: 'server down', target: 3, faults: { down: true } },
];

let fleet: Fleet;
let dev: Device;

beforeAll(async () => {
  fleet = await startFleet({ versions: 3 });
  await fleet.publishVersion(2, [1]);
  await fleet.publishVersion(3, [1]);
  dev = await makeDevice(fleet, 'soak', {
    fleet: { url: fleet.server.url, caFile: fleet.ca.caFile, checkinIntervalSec: 3600, jitterSec: 300 },
    retry: { minDelaySec: MIN_DELAY_SEC },
    // Five failures end a deployment (default 20): day 0's deployment then ends within its day, as it must.
    state: { maxFailures: 5 },
  });
}, 300_000);
afterAll(async () => {
  await dev?.close();
  await fleet?.close();
});

interface Hour { day: number; counts: Record<keyof typeof ENDPOINTS, number> }

describe('a simulated week against a misbehaving fleet server', () => {
  it('keeps every endpoint within the retry floor, ends each bad deployment, and keeps the database and memory bounded', async () => {
    let seed = 42;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const clock = new SimClock(Date.now(), 100);
    const start = clock.now();
    const wired = wireDevice(parseConfig(dev.config), { log: silentLogger(), now: clock.now, random });
    const daemon = new Daemon(wired.device, { timers: clock, socket: false });
    const total = (): Record<keyof typeof ENDPOINTS, number> =>
      Object.fromEntries(Object.entries(ENDPOINTS).map(([k, p]) => [k, fleet.server.stats.get(p)?.requests ?? 0])) as Record<keyof typeof ENDPOINTS, number>;
    const hours: Hour[] = [];
    const heap: number[] = [];
    let before = total();
    let day = -1;
    await daemon.start();
    for (let h = 0; h < 7 * 24; h++) {
      const d = Math.floor(h / 24);
      if (d !== day) {
        day = d;
        const spec = DAYS[d]!;
        for (const k of Object.keys(fleet.server.faults) as (keyof FaultHooks)[]) delete fleet.server.faults[k];
        Object.assign(fleet.server.faults, spec.faults);
        fleet.target.version = spec.target;
        gc();
        heap.push(process.memoryUsage().heapUsed);
      }
      const hourEnd = start + (h + 1) * HOUR;
      while (clock.now() < hourEnd) {
        clock.fireDue();
        await new Promise<void>((r) => setImmediate(r));
        const next = clock.nextAt();
        if (daemon.idle() && next !== null) clock.jumpTo(Math.min(next, hourEnd));
        else await sleep(1);
      }
      const now = total();
      hours.push({ day: d, counts: Object.fromEntries(Object.keys(now).map((k) => [k, now[k as keyof typeof now] - before[k as keyof typeof now]])) as Hour['counts'] });
      before = now;
    }
    const rows = wired.device.store.list(10);
    gc();
    heap.push(process.memoryUsage().heapUsed);
    await daemon.stop();
    wired.close();

    const perHourMax = (k: keyof typeof ENDPOINTS, d: number): number => Math.max(...hours.filter((x) => x.day === d).map((x) => x.counts[k]));
    const perDay = DAYS.map((spec, d) => ({
      day: d, what: spec.name,
      maxPerHour: Object.fromEntries(Object.keys(ENDPOINTS).map((k) => [k, perHourMax(k as keyof typeof ENDPOINTS, d)])),
      requests: hours.filter((x) => x.day === d).reduce((n, x) => n + Object.values(x.counts).reduce((a, b) => a + b, 0), 0),
    }));
    const stateDir = join(dev.host, 'var', 'lib', 'upgrade-agent');
    const dbBytes = ['state.db', 'state.db-wal'].map((f) => join(stateDir, f)).filter(existsSync).reduce((n, f) => n + statSync(f).size, 0);
    const summary = { perDay, dbBytes, heapUsedMiBPerDay: heap.map((b) => Math.round(b / 2 ** 20)) };
    mkdirSync('.cache', { recursive: true });
    writeFileSync('.cache/soak.json', JSON.stringify(summary, null, 2));
    console.log(JSON.stringify(summary));

    // No endpoint, in any hour, is asked more often than the retry floor allows (plus the hour's edges).
    const bound = Math.ceil(3600 / MIN_DELAY_SEC) + 2;
    for (const x of hours) for (const [k, n] of Object.entries(x.counts)) expect(n, `${k} in an hour of day ${x.day}`).toBeLessThanOrEqual(bound);
    // The bound is not vacuous: on day 0 the stream was asked near the floor, on day 1 the check-in was.
    expect(perHourMax('stream2', 0)).toBeGreaterThan(bound / 2);
    expect(perHourMax('checkin', 1)).toBeGreaterThan(bound / 2);

    // "Come back later" for ever and a stalling stream both end: deferrals are capped, failures too.
    const v2 = rows.find((r) => r.version === 2);
    const v3 = rows.find((r) => r.version === 3);
    expect(v2?.phase).toBe('failed');
    expect(v2?.reasonCode).toBe('E_RETRY_LATER_EXHAUSTED');
    expect(v3?.phase).toBe('failed');

    expect(dbBytes).toBeLessThan(8 * 2 ** 20);
    // Flat: after the first day's warm-up (TLS sessions, compiled code), the retained heap does not grow day on day.
    expect(heap[heap.length - 1]! - heap[1]!).toBeLessThan(8 * 2 ** 20);
  }, 900_000);
});
