// `upgradectl serve` behind a real caching nginx (packaging/nginx.example.conf as the README shows it): immutable streams
// are kept, manifests only for their max-age, 202 answers and check-ins never; the agent's downloader resumes through it.
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { statSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, fetchCapped, headerValue, type Dispatcher } from '../../src/adapters/http.js';
import { openServe, type ServeHandle } from '../../src/fleet/serve-main.js';
import { parseServeConfig } from '../../src/fleet/serve-config.js';
import type { DiffBuilder } from '../../src/fleet/diff-builds.js';
import { signPayload } from '../../src/trust/sign.js';
import { signDelegation } from '../../src/trust/delegation-sign.js';
import { generateKeyPair, writeSecretKeyFile } from '../../src/trust/keys.js';
import { silentLogger } from '../../src/log.js';
import { etagOf } from '../../src/fleet/static-files.js';
import { downloadStream, type DownloadProgress } from '../../src/steps/prefetch.js';
import { FIXTURE_CHANNEL, FIXTURE_HARDWARE, isoFromNow, makeKeys, makeManifest } from '../support/manifest-fixture.js';
import { makeThrowawayCa } from '../support/tls.js';
import { freePort, startThrowawayNginx, substituteExample, type ThrowawayNginx } from '../support/nginx.js';
import { TEST_FETCH_LIMITS } from '../support/net.js';

const MiB = 1 << 20;
const EXAMPLE = new URL('../../packaging/nginx.example.conf', import.meta.url);
const offline = makeKeys(1);
const online = generateKeyPair();
const manifestEnv = signPayload(Buffer.from(JSON.stringify(makeManifest({ version: 17, hardware: [FIXTURE_HARDWARE], streams: [{ from: null, urls: ['../streams/full-17.zfs.xz'], size: 9, sha256: 'c'.repeat(64), compression: 'xz' }] }))), offline.keys);
const full = randomBytes(2 * MiB);
const big = randomBytes(4 * MiB);
const cold = randomBytes(3 * MiB);
const diffBytes = (from: number, to: number): Buffer => Buffer.from(`diff ${from}->${to} `.repeat(5000));
let dir: string;
let www: string;
let srv: ServeHandle;
let proxy: ThrowawayNginx;
let dispatcher: Dispatcher;
/** serve's own debug log: each request it answered (what nginx really forwarded). */
const served: { msg: string; url?: string; status?: number; range?: string | null }[] = [];
let release: () => void = () => undefined;
const gate = new Promise<void>((resolve) => (release = resolve));

const builder: DiffBuilder = {
  canBuild: async (from, to) => from < to && to <= 17,
  build: async (from, to, out) => {
    await gate;
    const bytes = diffBytes(from, to);
    await writeFile(out, bytes);
    return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  },
};

async function publishFile(rel: string, data: Buffer | string): Promise<void> {
  await writeFile(join(www, `${rel}.tmp`), data);
  await rename(join(www, `${rel}.tmp`), join(www, rel)); // a new inode, as a publisher does it
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-nginx-'));
  const ca = await makeThrowawayCa(dir);
  www = join(dir, 'www');
  for (const d of ['manifests', 'streams', 'delegations']) await mkdir(join(www, d), { recursive: true });
  await publishFile('manifests/17.json', JSON.stringify(manifestEnv));
  await publishFile('streams/full-17.zfs.xz', full);
  await publishFile('streams/big-17.zfs.xz', big);
  await publishFile('streams/cold-17.zfs.xz', cold);
  await publishFile('delegations/17.json', JSON.stringify(signDelegation(manifestEnv, 17, { delegate: online, bases: { min: 1, max: 16 }, notAfter: isoFromNow(86_400_000), maxSize: 1 << 20, compression: 'xz' }, offline.keys)));
  writeSecretKeyFile(join(dir, 'online.key'), online);
  await writeFile(join(dir, 'server.key'), ca.key);
  await writeFile(join(dir, 'server.pem'), ca.cert);
  const cfg = parseServeConfig({
    listen: { host: '127.0.0.1', port: 0 }, tls: { certFile: 'server.pem', keyFile: 'server.key' }, publishDir: 'www', database: 'db/fleet.db',
    checkinIntervalSec: 60, cache: { manifestMaxAgeSec: 2 }, diffs: { delegateKeyFile: 'online.key', timeoutSec: 30 },
  }, dir);
  const log = pino({ level: 'debug' }, { write: (line: string) => void served.push(JSON.parse(line) as (typeof served)[number]) });
  srv = await openServe(cfg, log, { builder });
  const port = await freePort();
  const example = readFileSync(EXAMPLE, 'utf8');
  proxy = await startThrowawayNginx(port, (d) => substituteExample(example, [
    ['/var/cache/nginx/upgrade-agent', join(d, 'cache')],
    ['server 127.0.0.1:8443;', `server 127.0.0.1:${srv.port};`],
    ['listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`],
    ['/etc/nginx/fleet.pem', join(dir, 'server.pem')],
    ['/etc/nginx/fleet.key', join(dir, 'server.key')],
    ['/etc/upgrade-agent/serve-ca.pem', ca.caFile],
    ['proxy_ssl_name fleet-origin.example.org;', 'proxy_ssl_name localhost;'],
  ]));
  dispatcher = createDispatcher({ caFile: ca.caFile, headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000, connectTimeoutMs: 5000 });
}, 60_000);

afterAll(async () => {
  release();
  await proxy?.stop();
  await dispatcher?.close();
  await srv?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const get = async (path: string, o: { method?: 'GET' | 'POST'; body?: unknown; headers?: Record<string, string> } = {}) => {
  const r = await fetchCapped(`${proxy.url}${path}`, {
    dispatcher, maxBytes: 8 * MiB, limits: TEST_FETCH_LIMITS, method: o.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...o.headers }, ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
  });
  const h = (n: string): string | undefined => headerValue(r.headers, n);
  return { status: r.status, body: r.body, cache: h('x-cache-status'), cacheControl: h('cache-control'), h };
};
const atServe = (path: string): number => served.filter((l) => l.msg === 'request answered' && l.url === path).length;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('serve behind nginx proxy_cache', () => {
  it('runs the config that the README points to', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('packaging/nginx.example.conf is an nginx config');
    expect(proxy.access()).toEqual([]); // nothing asked yet: each later test sees its own requests
  });

  it('an immutable stream is fetched from serve once: the second answer is a HIT with the same bytes', async () => {
    const a = await get('/streams/full-17.zfs.xz');
    const b = await get('/streams/full-17.zfs.xz');
    expect([a.status, a.cache, b.status, b.cache]).toEqual([200, 'MISS', 200, 'HIT']);
    expect(a.cacheControl).toBe('public, max-age=31536000, immutable');
    expect(b.cacheControl).toBe('public, max-age=31536000, immutable');
    expect(a.body.equals(full) && b.body.equals(full)).toBe(true);
    expect(a.h('etag')).toBe(b.h('etag'));
    expect(atServe('/streams/full-17.zfs.xz')).toBe(1);
  });

  it('a manifest is kept for its max-age only: a re-published one is served once that has passed', async () => {
    const t0 = Date.now();
    const a = await get('/manifests/17.json');
    expect([a.status, a.cache, a.cacheControl]).toEqual([200, 'MISS', 'public, max-age=2']);
    expect(a.body.toString()).toBe(JSON.stringify(manifestEnv));
    await publishFile('manifests/17.json', '{"republished":true}');
    const b = await get('/manifests/17.json');
    if (Date.now() - t0 < 1500) expect([b.cache, b.body.toString()]).toEqual(['HIT', JSON.stringify(manifestEnv)]);
    // nginx keeps time in whole seconds: an answer with max-age=2 is fresh until 2 to 3 s after it came.
    let c = b;
    while (c.body.toString() !== '{"republished":true}' && Date.now() - t0 < 6000) {
      await sleep(100);
      c = await get('/manifests/17.json');
    }
    expect([c.status, c.cache, c.body.toString()]).toEqual([200, 'EXPIRED', '{"republished":true}']);
    expect(Date.now() - t0).toBeLessThan(3000 + 1000);
    const d = await get('/manifests/17.json');
    expect([d.cache, d.body.toString()]).toEqual(['HIT', '{"republished":true}']);
    expect(atServe('/manifests/17.json')).toBe(2);
  });

  it('202 + Retry-After for a diff still being built is never cached; once built the stream is served and then kept', async () => {
    const path = '/streams/12-17.zfs.xz';
    const waits = [await get(path), await get(path), await get('/v1/diffs/17/12'), await get('/v1/diffs/17/12')];
    expect(waits.map((w) => w.status)).toEqual([202, 202, 202, 202]);
    expect(waits.map((w) => w.cache)).not.toContain('HIT');
    expect(Number(waits[1]!.h('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(waits[1]!.cacheControl).toBe('no-store');
    expect([atServe(path), atServe('/v1/diffs/17/12')]).toEqual([2, 2]);
    release();
    await srv.service.builds.settled(12, 17);
    const built = await get(path);
    expect([built.status, built.cacheControl]).toEqual([200, 'public, max-age=31536000, immutable']);
    expect(built.body.equals(diffBytes(12, 17))).toBe(true);
    const again = await get(path);
    expect([again.cache, again.body.equals(diffBytes(12, 17))]).toEqual(['HIT', true]);
    const offer = await get('/v1/diffs/17/12');
    expect([offer.status, offer.cacheControl]).toEqual([200, 'public, max-age=2']);
    expect(atServe(path)).toBe(3);
  });

  it('check-in answers (POST, no-store) always reach serve', async () => {
    const report = { schema: 1, deviceId: 'dev-nginx', hardware: FIXTURE_HARDWARE, channel: FIXTURE_CHANNEL, agentVersion: '0.1.0', bootedVersion: 12, committedVersion: 12, deployment: null, lastError: null, freeBytes: { images: 1, state: 1 } };
    const a = await get('/v1/checkin', { method: 'POST', body: report });
    const b = await get('/v1/checkin', { method: 'POST', body: report });
    expect([a.status, a.cacheControl, b.status, b.cacheControl]).toEqual([200, 'no-store', 200, 'no-store']);
    expect(b.cache).not.toBe('HIT');
    expect(atServe('/v1/checkin')).toBe(2);
    expect((await srv.service.store.device('dev-nginx'))?.committedVersion).toBe(12);
  });

  it('Range through the cache: the right bytes, and If-Range with a stale validator gets the whole stream', async () => {
    const part = await get('/streams/full-17.zfs.xz', { headers: { range: 'bytes=1000-' } });
    expect([part.status, part.cache, part.h('content-range')]).toEqual([206, 'HIT', `bytes 1000-${full.length - 1}/${full.length}`]);
    expect(part.body.equals(full.subarray(1000))).toBe(true);
    const stale = await get('/streams/full-17.zfs.xz', { headers: { range: 'bytes=1000-', 'if-range': '"not-the-etag"' } });
    expect([stale.status, stale.body.equals(full)]).toEqual([200, true]);
  });

  it('the agent\'s downloader, cut after 1 MiB and resumed, ends with the signed bytes through nginx', async () => {
    const sha256 = createHash('sha256').update(big).digest('hex');
    const partialPath = join(dir, 'big.partial');
    const url = `${proxy.url}/streams/big-17.zfs.xz`;
    const progress: DownloadProgress[] = [];
    const ac = new AbortController();
    const base = {
      urls: [url], size: big.length, sha256, partialPath, dispatcher, checkpointBytes: 256 * 1024, log: silentLogger(),
      limits: { minBytesPerSec: 0, slowWindowSec: 5, deadlineSec: 60, headersTimeoutSec: 10, maxRedirects: 3 },
    };
    await expect(downloadStream({
      ...base, saved: null, signal: ac.signal,
      onProgress: (s) => {
        progress.push({ ...s });
        if (s.bytes >= MiB) ac.abort(new Error('simulated crash'));
      },
    })).rejects.toThrow('simulated crash');
    const onDisk = statSync(partialPath).size;
    expect(onDisk).toBeGreaterThanOrEqual(MiB);
    expect(onDisk).toBeLessThan(big.length);
    const last = progress[progress.length - 1]!;
    expect(last.validator).toMatch(/^"/); // serve's strong ETag came through nginx
    const resumed: DownloadProgress[] = [];
    const res = await downloadStream({ ...base, saved: { url: last.url, validator: last.validator! }, onProgress: (s) => void resumed.push({ ...s }) });
    expect(res.sha256).toBe(sha256);
    expect((await readFile(partialPath)).equals(big)).toBe(true);
    const asked = proxy.access().filter((l) => l.uri === '/streams/big-17.zfs.xz');
    expect(asked.at(-1)?.range).toBe(`bytes=${onDisk}-`);
    // nginx answers the resumed request 206 from its cache (or 200 whole, which the downloader takes from byte 0).
    if (asked.at(-1)?.status === 206) expect(resumed[0]?.bytes).toBe(onDisk);
    else expect(asked.at(-1)?.status).toBe(200);
    expect(atServe('/streams/big-17.zfs.xz')).toBeLessThanOrEqual(2);
  });

  it('a resume whose stream nginx has not cached yet (Range on a MISS) ends with the signed bytes too', async () => {
    const sha256 = createHash('sha256').update(cold).digest('hex');
    const partialPath = join(dir, 'cold.partial');
    const onDisk = MiB + 123;
    writeFileSync(partialPath, cold.subarray(0, onDisk)); // what an earlier run left, e.g. from before the cache was emptied
    const validator = etagOf(statSync(join(www, 'streams/cold-17.zfs.xz'), { bigint: true }));
    const url = `${proxy.url}/streams/cold-17.zfs.xz`;
    const progress: DownloadProgress[] = [];
    const res = await downloadStream({
      urls: [url], size: cold.length, sha256, partialPath, dispatcher, checkpointBytes: 256 * 1024, log: silentLogger(),
      limits: { minBytesPerSec: 0, slowWindowSec: 5, deadlineSec: 60, headersTimeoutSec: 10, maxRedirects: 3 },
      saved: { url, validator }, onProgress: (s) => void progress.push({ ...s }),
    });
    expect(res.sha256).toBe(sha256);
    expect((await readFile(partialPath)).equals(cold)).toBe(true);
    const asked = proxy.access().filter((l) => l.uri === '/streams/cold-17.zfs.xz');
    expect(asked.map((l) => [l.cache, l.range])).toEqual([['MISS', `bytes=${onDisk}-`]]);
    if (asked[0]?.status === 206) expect(progress[0]?.bytes).toBe(onDisk);
    else expect(asked[0]?.status).toBe(200);
    // nginx asked serve for the whole stream (to cache it), not for the range.
    expect(served.filter((l) => l.url === '/streams/cold-17.zfs.xz').map((l) => [l.status, l.range])).toEqual([[200, null]]);
    expect((await get('/streams/cold-17.zfs.xz')).cache).toBe('HIT');
  });
});
