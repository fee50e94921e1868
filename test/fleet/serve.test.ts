// `upgradectl serve` over real HTTPS: cache headers, check-ins and rollouts, diffs built on demand (one per pair,
// bounded queue, failure and timeout → full stream), the delegated statement verified as a device would, eviction.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, fetchCapped, headerValue, type Dispatcher } from '../../src/adapters/http.js';
import { openServe, type ServeHandle } from '../../src/fleet/serve-main.js';
import { parseServeConfig } from '../../src/fleet/serve-config.js';
import type { DiffBuilder } from '../../src/fleet/diff-builds.js';
import { signPayload } from '../../src/trust/sign.js';
import { signDelegation } from '../../src/trust/delegation-sign.js';
import { verifyDiffOffer } from '../../src/trust/delegation.js';
import { verifyManifest } from '../../src/trust/manifest.js';
import { generateKeyPair, writeSecretKeyFile } from '../../src/trust/keys.js';
import { silentLogger } from '../../src/log.js';
import { FIXTURE_CHANNEL, FIXTURE_HARDWARE, isoFromNow, makeKeys, makeManifest } from '../support/manifest-fixture.js';
import { makeThrowawayCa } from '../support/tls.js';
import { TEST_FETCH_LIMITS } from '../support/net.js';

const offline = makeKeys(1);
const online = generateKeyPair();
const manifest = makeManifest({ version: 17, hardware: [FIXTURE_HARDWARE], streams: [{ from: null, urls: ['../streams/full-17.zfs.xz'], size: 9, sha256: 'c'.repeat(64), compression: 'xz' }] });
const manifestEnv = signPayload(Buffer.from(JSON.stringify(manifest)), offline.keys);
let dir: string;
let srv: ServeHandle;
let dispatcher: Dispatcher;
const calls: string[] = [];
/** pair → behaviour of the fake builder: bytes after a delay, a failure, or never finishing. */
const plan = new Map<string, { ms: number; fail?: boolean; hang?: boolean }>();

const builder: DiffBuilder = {
  canBuild: async (from, to) => from < to && to <= 17,
  build: async (from, to, out, signal) => {
    calls.push(`${from}-${to}`);
    const p = plan.get(`${from}-${to}`) ?? { ms: 50 };
    await new Promise<void>((resolve, reject) => {
      if (!p.hang) setTimeout(resolve, p.ms);
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
    });
    if (p.fail) throw new Error('zfs send failed');
    const bytes = Buffer.from(`diff ${from}->${to} `.repeat(100));
    await writeFile(out, bytes);
    return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-serve-'));
  const ca = await makeThrowawayCa(dir);
  const pub = join(dir, 'www');
  for (const d of ['manifests', 'streams', 'delegations']) await mkdir(join(pub, d), { recursive: true });
  await writeFile(join(pub, 'manifests', '17.json'), JSON.stringify(manifestEnv));
  await writeFile(join(pub, 'streams', 'full-17.zfs.xz'), 'full bytes');
  await writeFile(join(pub, 'delegations', '17.json'), JSON.stringify(signDelegation(manifestEnv, 17, { delegate: online, bases: { min: 1, max: 16 }, notAfter: isoFromNow(86_400_000), maxSize: 1 << 20, compression: 'xz' }, offline.keys)));
  writeSecretKeyFile(join(dir, 'online.key'), online);
  await writeFile(join(dir, 'token'), 'sekrit\n');
  await writeFile(join(dir, 'server.key'), ca.key);
  await writeFile(join(dir, 'server.pem'), ca.cert);
  const cfg = parseServeConfig({
    listen: { port: 0 }, tls: { certFile: 'server.pem', keyFile: 'server.key' }, publishDir: 'www', database: 'db/fleet.db', adminTokenFile: 'token',
    checkinIntervalSec: 60, diffs: { delegateKeyFile: 'online.key', maxQueue: 2, timeoutSec: 1, failedRetrySec: 3600, budgetBytes: 3000, protectBases: 1 },
    rollout: { failureThreshold: 0.2, minReports: 3 },
  }, dir);
  srv = await openServe(cfg, silentLogger(), { builder });
  dispatcher = createDispatcher({ caFile: ca.caFile, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, connectTimeoutMs: 5000 });
});
afterAll(async () => {
  await srv?.close();
  await dispatcher?.close();
  await rm(dir, { recursive: true, force: true });
});

const req = (path: string, o: { method?: 'GET' | 'POST'; body?: unknown; token?: string } = {}) =>
  fetchCapped(`${srv.url}${path}`, {
    dispatcher, maxBytes: 1 << 20, limits: TEST_FETCH_LIMITS, method: o.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...(o.token === undefined ? {} : { authorization: `Bearer ${o.token}` }) },
    ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
  });
const admin = async (op: string, body: unknown): Promise<Record<string, unknown>> => JSON.parse((await req(`/v1/admin/${op}`, { method: 'POST', body, token: 'sekrit' })).body.toString()) as Record<string, unknown>;
const report = (id: string, o: Record<string, unknown> = {}) => ({ schema: 1, deviceId: id, hardware: FIXTURE_HARDWARE, channel: FIXTURE_CHANNEL, agentVersion: '0.1.0', bootedVersion: 12, committedVersion: 12, deployment: null, lastError: null, freeBytes: { images: 1, state: 1 }, ...o });
const checkin = async (id: string, o: Record<string, unknown> = {}) => {
  const r = await req('/v1/checkin', { method: 'POST', body: report(id, o) });
  return { status: r.status, cache: headerValue(r.headers, 'cache-control'), body: JSON.parse(r.body.toString()) as { target: { version: number; manifest: string } | null } };
};

describe('serve: files and cache headers', () => {
  it('manifests short-lived, published streams immutable, missing files 404', async () => {
    const m = await req('/manifests/17.json');
    expect(m.status).toBe(200);
    expect(headerValue(m.headers, 'cache-control')).toBe('public, max-age=60');
    const s = await req('/streams/full-17.zfs.xz');
    expect(s.body.toString()).toBe('full bytes');
    expect(headerValue(s.headers, 'cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await req('/manifests/99.json')).status).toBe(404);
    expect((await req('/streams/../token')).status).toBe(404);
  });
});

describe('serve: check-ins and a staged rollout', () => {
  it('records devices, answers no-store, offers only what a rollout includes', async () => {
    const first = await checkin('dev-a');
    expect(first).toMatchObject({ status: 200, cache: 'no-store', body: { target: null } });
    const r = await admin('start', { channel: FIXTURE_CHANNEL, hardware: FIXTURE_HARDWARE, version: 17, percent: 100 });
    expect(r).toMatchObject({ id: 1, percent: 100, state: 'active' });
    expect((await checkin('dev-a')).body.target).toEqual({ version: 17, manifest: 'manifests/17.json' });
    await admin('pin', { deviceId: 'dev-b', version: null });
    expect((await checkin('dev-b')).body.target).toBeNull();
    expect((await req('/v1/checkin', { method: 'POST', body: { nope: 1 } })).status).toBe(400);
  });

  it('the admin API wants the token', async () => {
    expect((await req('/v1/admin/status')).status).toBe(401);
    expect((await req('/v1/admin/status', { token: 'wrong!' })).status).toBe(401);
  });

  it('pauses by itself once failures pass the threshold; resume and widen by the operator', async () => {
    for (const id of ['f1', 'f2']) await checkin(id, { deployment: { version: 17, phase: 'rolled_back' }, lastError: { code: 'E_HEALTH', message: 'x' } });
    await checkin('ok1', { deployment: { version: 17, phase: 'committed' }, committedVersion: 17 });
    await new Promise((r) => setTimeout(r, 1100)); // the tick runs at most once a second
    await checkin('dev-c');
    const status = JSON.parse((await req('/v1/admin/status', { token: 'sekrit' })).body.toString()) as { rollouts: { state: string; pausedReason: string; failed: number }[]; failing: { id: string; code: string }[]; byVersion: Record<string, unknown> };
    expect(status.rollouts[0]).toMatchObject({ state: 'paused', failed: 2 });
    expect(status.rollouts[0]?.pausedReason).toMatch(/automatic: 2 of 3/);
    expect(status.failing.map((f) => [f.id, f.code])).toEqual([['f1', 'E_HEALTH'], ['f2', 'E_HEALTH']]);
    expect(status.byVersion['17']).toEqual({ committed: 1 });
    expect((await checkin('dev-new')).body.target).toBeNull();
    expect(await admin('resume', { id: 1 })).toMatchObject({ state: 'active' });
    expect(await admin('widen', { id: 1, percent: 50 })).toMatchObject({ percent: 50 });
  });
});

describe('serve: diffs on demand', () => {
  it('202 + Retry-After (no-store) while building; concurrent asks share one build; then the bytes, immutable', async () => {
    plan.set('12-17', { ms: 300 });
    const answers = await Promise.all([1, 2, 3].map(() => req('/streams/12-17.zfs.xz')));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202]);
    expect(Number(headerValue(answers[0]!.headers, 'retry-after'))).toBeGreaterThanOrEqual(1);
    expect(headerValue(answers[0]!.headers, 'cache-control')).toBe('no-store');
    await srv.service.builds.settled(12, 17);
    expect(calls.filter((c) => c === '12-17')).toHaveLength(1);
    const done = await req('/streams/12-17.zfs.xz');
    expect(done.status).toBe(200);
    expect(done.body.toString()).toMatch(/^diff 12->17/);
    expect(headerValue(done.headers, 'cache-control')).toBe('public, max-age=31536000, immutable');
  });

  it('the offer document verifies as a device verifies it, and its sha256 is the bytes served', async () => {
    const offer = await req('/v1/diffs/17/12');
    expect(offer.status).toBe(200);
    const verified = verifyManifest(Buffer.from(JSON.stringify(manifestEnv)), {
      trusted: offline.trusted, threshold: 1, maxBytes: 1 << 20, now: new Date(), newestIssued: null, maxClockAheadSec: 86400,
      versionFloor: null, hardware: FIXTURE_HARDWARE, channel: FIXTURE_CHANNEL, allowDowngrade: false,
    });
    const stream = verifyDiffOffer(offer.body, { manifest: verified.manifest, payloadSha256: verified.payloadSha256, trusted: offline.trusted, threshold: 1, from: 12, now: new Date() });
    const bytes = (await req(stream.urls[0] as string)).body;
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(stream.sha256);
    expect(bytes.length).toBe(stream.size);
    expect((await req('/v1/diffs/17/16')).status).toBe(202); // in scope, not built yet
    expect((await req('/v1/diffs/18/12')).status).toBe(404); // no delegation for 18
  });

  it('a failed build and a timed-out one are reported (404 E_DIFF_BUILD) and not retried at once', async () => {
    plan.set('10-17', { ms: 10, fail: true });
    plan.set('9-17', { ms: 0, hang: true });
    expect((await req('/streams/10-17.zfs.xz')).status).toBe(202);
    expect((await req('/streams/9-17.zfs.xz')).status).toBe(202);
    await srv.service.builds.settled(10, 17);
    await srv.service.builds.settled(9, 17);
    for (const p of ['10-17', '9-17']) {
      const r = await req(`/streams/${p}.zfs.xz`);
      expect(r.status, p).toBe(404);
      expect(JSON.parse(r.body.toString())).toMatchObject({ code: 'E_DIFF_BUILD' });
    }
    expect(calls.filter((c) => c === '10-17' || c === '9-17')).toHaveLength(2);
  });

  it('a full queue answers 503 + Retry-After', async () => {
    for (const p of ['1-17', '2-17', '3-17', '4-17']) plan.set(p, { ms: 400 });
    const codes = [];
    for (const p of ['1-17', '2-17', '3-17', '4-17']) codes.push((await req(`/streams/${p}.zfs.xz`)).status);
    expect(codes).toEqual([202, 202, 202, 503]);
    for (const [f] of [[1], [2], [3]]) await srv.service.builds.settled(f as number, 17);
  });

  it('housekeeping keeps the byte budget, least recently served first, never the most common base of the newest release', async () => {
    const rows = await srv.service.store.diffs();
    const total = rows.reduce((a, d) => a + d.size, 0);
    expect(total).toBeLessThanOrEqual(3000);
    expect(rows.map((d) => `${d.from}-${d.to}`)).toContain('12-17'); // 12 is the fleet's most common committed version
    expect(existsSync(join(dir, 'db', 'diffs', '12-17.zfs.xz'))).toBe(true);
  });
});
