// Two `upgradectl serve` instances on one PostgreSQL database (a throwaway cluster) and one shared diffs dir, over
// real HTTPS: concurrent check-ins and diff requests for one pair through both → one build, no lost check-in, the
// same rollout counts from either instance, one eviction.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, fetchCapped, type Dispatcher } from '../../src/adapters/http.js';
import { openServe, type ServeHandle } from '../../src/fleet/serve-main.js';
import { parseServeConfig } from '../../src/fleet/serve-config.js';
import type { DiffBuilder } from '../../src/fleet/diff-builds.js';
import { silentLogger } from '../../src/log.js';
import { FIXTURE_CHANNEL, FIXTURE_HARDWARE } from '../support/manifest-fixture.js';
import { makeThrowawayCa } from '../support/tls.js';
import { TEST_FETCH_LIMITS } from '../support/net.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/postgres.js';

let dir: string;
let cluster: ThrowawayPostgres;
let dispatcher: Dispatcher;
const servers: ServeHandle[] = [];
/** Every build any instance ran, as `instance:pair`. */
const builds: string[] = [];

const builder = (name: string): DiffBuilder => ({
  canBuild: async (from, to) => from < to && to <= 17,
  build: async (from, to, out) => {
    builds.push(`${name}:${from}-${to}`);
    await new Promise((r) => setTimeout(r, 400));
    const bytes = Buffer.from(`diff ${from}->${to} `.repeat(200));
    await writeFile(`${out}.tmp`, bytes);
    await import('node:fs/promises').then((fs) => fs.rename(`${out}.tmp`, out));
    return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  },
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-multi-'));
  cluster = await startThrowawayPostgres();
  const url = await cluster.createDatabase('fleet');
  const ca = await makeThrowawayCa(dir);
  for (const d of ['manifests', 'streams']) await mkdir(join(dir, 'www', d), { recursive: true });
  await writeFile(join(dir, 'www', 'manifests', '17.json'), '{}');
  await writeFile(join(dir, 'token'), 'sekrit\n');
  await writeFile(join(dir, 'server.key'), ca.key);
  await writeFile(join(dir, 'server.pem'), ca.cert);
  const cfg = parseServeConfig({
    listen: { port: 0 }, tls: { certFile: 'server.pem', keyFile: 'server.key' }, publishDir: 'www', database: url, adminTokenFile: 'token',
    checkinIntervalSec: 60, diffs: { dir: 'shared-diffs', budgetBytes: 5000, protectBases: 0 }, rollout: { failureThreshold: 0.5, minReports: 100 },
  }, dir);
  expect(cfg.database).toBe(url);
  // Both start together: the schema is created once, under its lock.
  servers.push(...(await Promise.all(['a', 'b'].map((n) => openServe(cfg, silentLogger(), { builder: builder(n) })))));
  dispatcher = createDispatcher({ caFile: ca.caFile, headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000, connectTimeoutMs: 5000 });
}, 180_000);
afterAll(async () => {
  for (const s of servers) await s.close();
  await dispatcher?.close();
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
}, 90_000);

const req = (i: number, path: string, o: { method?: 'GET' | 'POST'; body?: unknown } = {}) =>
  fetchCapped(`${servers[i % 2]!.url}${path}`, {
    dispatcher, maxBytes: 1 << 20, limits: TEST_FETCH_LIMITS, method: o.method ?? 'GET',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sekrit' },
    ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
  });
const report = (id: string, o: Record<string, unknown> = {}) => ({ schema: 1, deviceId: id, hardware: FIXTURE_HARDWARE, channel: FIXTURE_CHANNEL, agentVersion: '0.1.0', bootedVersion: 12, committedVersion: 12, deployment: null, lastError: null, ...o });
type Status = { devices: number; rollouts: { percent: number; cohort: number; reporting: number; committed: number; failed: number }[] };

describe('serve: two instances on one PostgreSQL database', () => {
  it('concurrent check-ins through both lose none; both answer the same rollout and counts', async () => {
    const started = JSON.parse((await req(0, '/v1/admin/start', { method: 'POST', body: { channel: FIXTURE_CHANNEL, hardware: FIXTURE_HARDWARE, version: 17, percent: 50 } })).body.toString()) as { id: number };
    const ids = Array.from({ length: 30 }, (_, i) => `dev-${i}`);
    // Every device checks in 4 times, twice through each instance, all at once.
    const answers = await Promise.all(ids.flatMap((id, k) => [0, 1, 2, 3].map((j) => req(k + j, '/v1/checkin', {
      method: 'POST', body: report(id, k < 6 ? { deployment: { version: 17, phase: k < 2 ? 'rolled_back' : 'committed' }, committedVersion: k < 2 ? 12 : 17 } : {}),
    }))));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const targets = new Map<string, Set<string>>();
    answers.forEach((a, n) => {
      const id = ids[Math.floor(n / 4)]!;
      targets.set(id, (targets.get(id) ?? new Set()).add(JSON.stringify((JSON.parse(a.body.toString()) as { target: unknown }).target)));
    });
    expect([...targets.values()].every((t) => t.size === 1)).toBe(true); // one answer per device, whichever instance
    const status = await Promise.all([0, 1].map(async (i) => JSON.parse((await req(i, '/v1/admin/status')).body.toString()) as Status));
    expect(status[0]).toEqual({ ...status[1], at: (status[0] as unknown as { at: string }).at });
    expect(status[0]!.devices).toBe(30);
    expect(status[0]!.rollouts[0]).toMatchObject({ id: started.id, percent: 50, reporting: 6, committed: 4, failed: 2 });
  });

  it('every check-in is counted: 4 per device, whichever instance took it', async () => {
    const rows = await servers[0]!.service.store.devices();
    expect(rows.map((d) => d.checkins)).toEqual(Array.from({ length: 30 }, () => 4));
  });

  it('diff requests for one pair through both instances: one build, 202 meanwhile, then the same bytes from both', async () => {
    const first = await Promise.all(Array.from({ length: 10 }, (_, i) => req(i, '/streams/12-17.zfs.xz')));
    expect(first.map((a) => a.status)).toEqual(Array.from({ length: 10 }, () => 202));
    const deadline = Date.now() + 15_000;
    let done = await Promise.all([0, 1].map((i) => req(i, '/streams/12-17.zfs.xz')));
    while (done.some((d) => d.status !== 200) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      done = await Promise.all([0, 1].map((i) => req(i, '/streams/12-17.zfs.xz')));
    }
    expect(done.map((d) => d.status)).toEqual([200, 200]);
    expect(done[0]!.body.equals(done[1]!.body)).toBe(true);
    expect(builds.filter((b) => b.endsWith(':12-17'))).toHaveLength(1);
    expect(await servers[1]!.service.store.buildClaim(12, 17)).toBeNull();
    expect((await servers[0]!.service.store.diff(12, 17))?.served).toBe(2);
  });

  it('housekeeping on both instances at once evicts each build once', async () => {
    for (const from of [10, 11]) {
      await req(from, `/streams/${from}-17.zfs.xz`);
      for (let t = Date.now() + 15_000; Date.now() < t && (await req(from, `/streams/${from}-17.zfs.xz`)).status !== 200;) await new Promise((r) => setTimeout(r, 200));
    }
    // 3 diffs of 3800 bytes over a 5000-byte budget: the build evictions may already have run; now both together.
    const gone = (await Promise.all(servers.map((s) => s.service.housekeeping()))).flat();
    const left = await servers[0]!.service.store.diffs();
    expect(left.reduce((a, d) => a + d.size, 0)).toBeLessThanOrEqual(5000);
    expect(new Set(gone).size).toBe(gone.length);
  });
});
