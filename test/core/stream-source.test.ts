// On-demand diffs on the device: the real fleet server (fake builder) answers 202, then a delegated statement; the
// download is verified against it and persisted; crafted documents are refused with their codes or fall back to full.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, type Dispatcher } from '../../src/adapters/http.js';
import { openServe, type ServeHandle } from '../../src/fleet/serve-main.js';
import { parseServeConfig } from '../../src/fleet/serve-config.js';
import type { DiffBuilder } from '../../src/fleet/diff-builds.js';
import { signPayload } from '../../src/trust/sign.js';
import { manifestPayloadSha256, signDelegation, signDiffStatement, type DelegationTerms } from '../../src/trust/delegation-sign.js';
import { generateKeyPair, writeSecretKeyFile, type KeyPair } from '../../src/trust/keys.js';
import type { Envelope, Manifest } from '../../src/trust/manifest-types.js';
import { silentLogger } from '../../src/log.js';
import { Runner } from '../../src/core/runner.js';
import { runDownload, streamPaths } from '../../src/core/steps.js';
import type { Device } from '../../src/core/device.js';
import type { Deployment } from '../../src/state/store.js';
import { UpgradeError } from '../../src/errors.js';
import { FakeDevice } from '../support/switch-fakes.js';
import { isoFromNow, makeKeys, makeManifest } from '../support/manifest-fixture.js';
import { makeThrowawayCa } from '../support/tls.js';

const DAY = 86_400_000;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const offline = makeKeys(2);
const online = generateKeyPair();
const full = Buffer.from('full stream of 17 '.repeat(50));
const manifest: Manifest = makeManifest({ version: 17, streams: [{ from: null, urls: ['../streams/full-17.zfs'], size: full.length, sha256: sha(full), compression: 'none' }] });
const manifestEnv: Envelope = signPayload(Buffer.from(JSON.stringify(manifest)), offline.keys);
const diffBytes = (from: number): Buffer => Buffer.from(`diff ${from}->17 `.repeat(100));
const terms: DelegationTerms = { delegate: online, bases: { min: 10, max: 16 }, notAfter: isoFromNow(7 * DAY), maxSize: 1 << 20, compression: 'none' };

let dir: string;
let srv: ServeHandle;
let dispatcher: Dispatcher;
let crafted: Server;
let craftedUrl: string;
/** What the crafted server answers for any /v1/diffs/… (status and body); streams come from the real server's files. */
let craftedAnswer: { status: number; body: string } = { status: 404, body: '{}' };
const builds: string[] = [];
const failing = new Set<string>();

const builder: DiffBuilder = {
  canBuild: async (from, to) => from < to && to <= 17,
  build: async (from, to, out) => {
    builds.push(`${from}-${to}`);
    await new Promise((r) => setTimeout(r, 30));
    if (failing.has(`${from}-${to}`)) throw new Error('zfs send failed');
    const bytes = diffBytes(from);
    await writeFile(out, bytes);
    return { size: bytes.length, sha256: sha(bytes) };
  },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stream-source-'));
  const ca = await makeThrowawayCa(dir);
  const pub = join(dir, 'www');
  for (const d of ['manifests', 'streams', 'delegations']) await mkdir(join(pub, d), { recursive: true });
  await writeFile(join(pub, 'manifests', '17.json'), JSON.stringify(manifestEnv));
  await writeFile(join(pub, 'streams', 'full-17.zfs'), full);
  await writeFile(join(pub, 'delegations', '17.json'), JSON.stringify(signDelegation(manifestEnv, 17, terms, offline.keys)));
  writeSecretKeyFile(join(dir, 'online.key'), online);
  await writeFile(join(dir, 'server.key'), ca.key);
  await writeFile(join(dir, 'server.pem'), ca.cert);
  const cfg = parseServeConfig({
    listen: { port: 0 }, tls: { certFile: 'server.pem', keyFile: 'server.key' }, publishDir: 'www', database: 'db/fleet.db',
    checkinIntervalSec: 60, diffs: { dir: 'diffs', delegateKeyFile: 'online.key', compression: 'none', timeoutSec: 5, failedRetrySec: 3600 },
  }, dir);
  srv = await openServe(cfg, silentLogger(), { builder });
  crafted = createServer({ key: ca.key, cert: ca.cert }, (req, res) => {
    if (req.url?.startsWith('/v1/diffs/')) return void res.writeHead(craftedAnswer.status, { 'content-type': 'application/json' }).end(craftedAnswer.body);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => crafted.listen(0, '127.0.0.1', r));
  craftedUrl = `https://127.0.0.1:${(crafted.address() as AddressInfo).port}`;
  dispatcher = createDispatcher({ caFile: ca.caFile, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, connectTimeoutMs: 5000 });
});
afterAll(async () => {
  await srv?.close();
  await new Promise((r) => crafted?.close(r));
  await dispatcher?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A device whose newest snapshot is `base`, trusting the offline keys (threshold 2), checking in with `fleetUrl`. */
function device(base: number, fleetUrl: string): { deps: Device; d: Deployment; close: () => void } {
  const dev = new FakeDevice([base], base);
  dev.clock = Date.now();
  const p = dev.process();
  const config = { ...dev.config, fleet: { ...dev.config.fleet, url: fleetUrl }, trust: { ...dev.config.trust, keys: offline.trusted, threshold: 2 } };
  const deps: Device = { ...p.deps, config, dispatcher, space: { freeBytes: () => 2 ** 40 } };
  const d = deps.store.create({
    version: 17, label: manifest.label, manifestUrl: `${srv.url}/manifests/17.json`, envelope: Buffer.from(JSON.stringify(manifestEnv)),
    payloadSha256: manifestPayloadSha256(manifestEnv), imageSize: manifest.image.size, imageSha256: manifest.image.sha256,
  });
  return { deps, d, close: () => { p.close(); rmSync(dev.dir); } };
}
const rmSync = (p: string): void => void rm(p, { recursive: true, force: true });

async function downloadWaiting(deps: Device, d: Deployment): Promise<number> {
  let waits = 0;
  for (;;) {
    try {
      await runDownload(deps, deps.store.get(d.id));
      return waits;
    } catch (err) {
      if (!(err instanceof UpgradeError) || err.code !== 'E_RETRY_LATER') throw err;
      waits++;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('on-demand diffs against the real fleet server', () => {
  it('202 first (the runner defers, nothing chosen yet), then the delegated diff, hashed, persisted and resumable', async () => {
    const { deps, d, close } = device(12, srv.url);
    try {
      const first = await new Runner(deps).advance(d.id);
      expect(first).toMatchObject({ kind: 'retry', code: 'E_RETRY_LATER', deployment: { phase: 'downloading', deferrals: 1, streamSha256: null } });
      await new Promise((r) => setTimeout(r, 200));
      expect(await downloadWaiting(deps, d)).toBe(0);
      const row = deps.store.get(d.id);
      const bytes = diffBytes(12);
      expect(row).toMatchObject({ streamFrom: 12, streamSize: bytes.length, streamSha256: sha(bytes), compression: 'none' });
      expect(JSON.parse(row.streamUrls ?? 'null')).toEqual([`${srv.url}/streams/12-17.zfs`]);
      expect(readFileSync(streamPaths(deps.config.paths.downloadsDir, row).complete)).toEqual(bytes);
      expect(builds.filter((b) => b === '12-17')).toHaveLength(1);
      const selected = deps.store.history(200, d.id).find((j) => j.event === 'stream-selected');
      expect(selected?.data).toMatchObject({ from: 12, onDemand: true });
      // A restart mid-download does not ask again: the persisted offer is downloaded, to the same hash.
      const paths = streamPaths(deps.config.paths.downloadsDir, row);
      renameSync(paths.complete, paths.partial);
      truncateSync(paths.partial, 100);
      await runDownload(deps, deps.store.get(d.id));
      expect(readFileSync(paths.complete)).toEqual(bytes);
      expect(deps.store.get(d.id).streamUrls).toBe(row.streamUrls);
      expect(deps.store.history(200, d.id).filter((j) => j.event === 'stream-selected')).toHaveLength(1);
    } finally {
      close();
    }
  });

  it('a base outside the delegation: the server answers 404 E_DELEGATION_SCOPE, the full stream', async () => {
    const { deps, d, close } = device(9, srv.url);
    try {
      await downloadWaiting(deps, d); // 9 is outside the delegation (10..16)
      expect(deps.store.get(d.id)).toMatchObject({ streamFrom: null, streamSha256: sha(full), streamUrls: null });
      const declined = deps.store.history(200, d.id).find((j) => j.event === 'diff-offer-declined');
      expect(declined?.data).toMatchObject({ code: 'E_DELEGATION_SCOPE' });
    } finally {
      close();
    }
  });

  it('a failed build (404 E_DIFF_BUILD) falls back to the full stream', async () => {
    failing.add('13-17');
    const { deps, d, close } = device(13, srv.url);
    try {
      await downloadWaiting(deps, d);
      expect(deps.store.get(d.id)).toMatchObject({ streamFrom: null, streamSha256: sha(full), streamUrls: null });
      const declined = deps.store.history(200, d.id).find((j) => j.event === 'diff-offer-declined');
      expect(declined?.data).toMatchObject({ code: 'E_DIFF_BUILD' });
    } finally {
      close();
    }
  });

  it('bytes changed on the server after the statement: E_DOWNLOAD_HASH, the partial file deleted', async () => {
    const { deps, d, close } = device(14, srv.url);
    try {
      await expect(downloadWaiting(deps, d)).resolves.toBe(1); // the first ask starts the build
      // Now a second device asks for the same pair, and the file is tampered with in between.
      const other = device(14, srv.url);
      try {
        const built = join(dir, 'diffs', '14-17.zfs');
        expect(existsSync(built)).toBe(true);
        const evil = diffBytes(14);
        evil.writeUInt8(evil.readUInt8(10) ^ 1, 10);
        writeFileSync(built, evil);
        const err = await downloadWaiting(other.deps, other.d).catch((e: unknown) => e);
        expect((err as UpgradeError).code).toBe('E_DOWNLOAD_HASH');
        const row = other.deps.store.get(other.d.id);
        expect(existsSync(streamPaths(other.deps.config.paths.downloadsDir, row).partial)).toBe(false);
        expect(existsSync(streamPaths(other.deps.config.paths.downloadsDir, row).complete)).toBe(false);
      } finally {
        other.close();
      }
    } finally {
      close();
    }
  });
});

describe('on-demand diffs: crafted documents', () => {
  const statement = { version: 17, from: 12, manifestSha256: manifestPayloadSha256(manifestEnv), size: diffBytes(12).length, sha256: sha(diffBytes(12)), compression: 'none' as 'none' | 'xz', issued: isoFromNow(0) };
  const docWith = (o: { t?: Partial<DelegationTerms>; keys?: KeyPair[]; s?: Partial<typeof statement>; by?: KeyPair }): string => JSON.stringify({
    delegation: signDelegation(manifestEnv, 17, { ...terms, ...o.t }, o.keys ?? offline.keys),
    statement: signDiffStatement({ ...statement, ...o.s }, o.by ?? online),
    urls: [`${srv.url}/streams/12-17.zfs`],
  });
  const outcome = async (body: string): Promise<{ code: string | null; row: Deployment; fetched: boolean }> => {
    craftedAnswer = { status: 200, body };
    const { deps, d, close } = device(12, craftedUrl);
    try {
      const err = await downloadWaiting(deps, d).then(() => null, (e: unknown) => e as UpgradeError);
      const row = deps.store.get(d.id);
      const fetched = existsSync(deps.config.paths.downloadsDir) && readdirSync(deps.config.paths.downloadsDir).length > 0;
      return { code: err?.code ?? null, row, fetched };
    } finally {
      close();
    }
  };

  it.each([
    ['a statement for another version', { s: { version: 18 } }, 'E_DIFF_STATEMENT_MISMATCH'],
    ['a statement for another base', { s: { from: 11 } }, 'E_DIFF_STATEMENT_MISMATCH'],
    ['a statement above maxSize', { t: { maxSize: 100 } }, 'E_DELEGATION_SCOPE'],
    ['a statement signed by an undelegated key', { by: generateKeyPair() }, 'E_DIFF_STATEMENT_SIGNATURE'],
    ['a delegation signed below the threshold', { keys: [offline.keys[0]!] }, 'E_DELEGATION_SIGNATURE'],
    ['a delegation for another compression', { s: { compression: 'xz' as const } }, 'E_DIFF_STATEMENT_MISMATCH'],
  ])('%s is refused with its code, nothing chosen or fetched', async (_name, o, code) => {
    const { code: got, row, fetched } = await outcome(docWith(o));
    expect(got).toBe(code);
    expect(row.streamSha256).toBeNull();
    expect(fetched).toBe(false);
  });

  it('a delegation past notAfter by the device clock, or not covering the base: the full stream', async () => {
    for (const t of [{ notAfter: isoFromNow(-1000) }, { bases: { min: 13, max: 16 } }]) {
      const { code, row, fetched } = await outcome(docWith({ t, s: { issued: isoFromNow(-DAY) } }));
      expect(code).toBeNull();
      expect(fetched).toBe(true);
      expect(row).toMatchObject({ streamFrom: null, streamSha256: sha(full), streamUrls: null });
    }
  });

  it('a 200 that is not a document is refused; a 404 that is not the fleet server’s JSON (a static or older server): the full stream', async () => {
    const { code, row } = await outcome('not found\n');
    expect(code).toBe('E_DIFF_STATEMENT_PAYLOAD');
    expect(row.streamSha256).toBeNull();
    craftedAnswer = { status: 404, body: 'not found\n' };
    const { deps, d, close } = device(12, craftedUrl);
    try {
      await downloadWaiting(deps, d);
      expect(deps.store.get(d.id)).toMatchObject({ streamFrom: null, streamSha256: sha(full) });
      expect(deps.store.history(200, d.id).find((j) => j.event === 'diff-offer-declined')?.data).toMatchObject({ code: 'E_HTTP_STATUS' });
    } finally {
      close();
    }
  });

  it('202 and 503 are come back later; another status is E_HTTP_STATUS', async () => {
    for (const status of [202, 503]) {
      craftedAnswer = { status, body: '' };
      const { deps, d, close } = device(12, craftedUrl);
      try {
        const r = await new Runner(deps).advance(d.id);
        expect(r).toMatchObject({ kind: 'retry', code: 'E_RETRY_LATER', deployment: { deferrals: 1 } });
      } finally {
        close();
      }
    }
    const { code } = await (async () => { craftedAnswer = { status: 500, body: '' }; const { deps, d, close } = device(12, craftedUrl); try { return { code: await runDownload(deps, d).then(() => null, (e: UpgradeError) => e.code) }; } finally { close(); } })();
    expect(code).toBe('E_HTTP_STATUS');
  });
});
