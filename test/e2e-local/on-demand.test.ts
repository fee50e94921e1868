// A device upgrades through a diff that did not exist when it asked: the real fleet server (`openServe`, the real zfs
// builder on zfs-fuse) answers 202, builds 1→2, serves it under its delegation; the device commits and reports it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, buildImageVersions, sha256File, type PublishedImages, type TestPool } from '../support/zfs-pool.js';
import { makeDevice, type Fleet } from '../support/device-sandbox.js';
import { makeThrowawayCa, type ThrowawayCa } from '../support/tls.js';
import { publish } from '../../src/publish/publish.js';
import { ZfsCli } from '../../src/adapters/zfs.js';
import { openServe, type ServeHandle } from '../../src/fleet/serve-main.js';
import { parseServeConfig } from '../../src/fleet/serve-config.js';
import { execa } from 'execa';
import { generateKeyPair, writePublicKeyFile, writeSecretKeyFile, type KeyPair } from '../../src/trust/keys.js';

const CLI = new URL('../../dist/src/cli/upgradectl.js', import.meta.url).pathname;
import { silentLogger } from '../../src/log.js';

let dir: string;
let ca: ThrowawayCa;
let key: KeyPair;
let pubPool: TestPool;
let images: PublishedImages;
let srv: ServeHandle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ua-ondemand-'));
  mkdirSync(join(dir, 'ca'));
  ca = await makeThrowawayCa(join(dir, 'ca'));
  key = generateKeyPair();
  const online = generateKeyPair();
  pubPool = await createPool(dir, 'uaf2pub', 256);
  images = await buildImageVersions(pubPool, { workDir: dir, count: 2, sizeMiB: 32, blobKiB: 1024 });
  const www = join(dir, 'www');
  mkdirSync(join(www, 'delegations'), { recursive: true });
  // Version 2 is published with its full stream only: the diff from 1 is left to the server.
  await publish({ zfs: new ZfsCli({ busyTimeoutSec: 30, log: silentLogger() }), now: () => Date.now() }, {
    dataset: images.dataset, outDir: www, version: 2, label: 'test 2', hardware: ['test-board'], channel: 'stable',
    expiresDays: 30, from: [], full: true, compression: 'xz', mirrors: [], imageFile: 'root.img', keys: [key], chunks: false,
  });
  // The offline step, as the README has it: upgradectl delegate with the publisher's key and the server's public key.
  writeSecretKeyFile(join(dir, 'offline.key'), key);
  writeSecretKeyFile(join(dir, 'online.key'), online);
  writePublicKeyFile(join(dir, 'online.pub'), online);
  const delegated = await execa('node', [CLI, 'delegate', '--publish-dir', www, '--version', '2', '--key', join(dir, 'offline.key'),
    '--online-key', join(dir, 'online.pub'), '--bases', '1-1', '--days', '7', '--max-size', String(256 << 20)]);
  expect(JSON.parse(delegated.stdout)).toMatchObject({ version: 2, bases: { min: 1, max: 1 } });
  writeFileSync(join(dir, 'server.key'), ca.key);
  writeFileSync(join(dir, 'server.pem'), ca.cert);
  const cfg = parseServeConfig({
    listen: { port: 0 }, tls: { certFile: 'server.pem', keyFile: 'server.key' }, publishDir: 'www', database: 'fleet.db',
    checkinIntervalSec: 60, diffs: { dir: 'diffs', dataset: images.dataset, delegateKeyFile: 'online.key', compression: 'xz', timeoutSec: 300 },
  }, dir);
  srv = await openServe(cfg, silentLogger());
  await srv.service.admin('start', { channel: 'stable', hardware: 'test-board', version: 2, percent: 100 });
}, 300_000);

afterAll(async () => {
  await srv?.close();
  await pubPool?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('on-demand diff, end to end', () => {
  it('202, then the built diff 1→2 under the delegation; the trial commits and the next check-in reports it', async () => {
    const fleet = { images, ca, key, server: { url: srv.url } } as unknown as Fleet;
    // The server's first estimate is 30 s or more; the device's bounds cap each wait at 2 s here.
    const dev = await makeDevice(fleet, 'ondemand', { retry: { minDelaySec: 1, maxDelaySec: 2 } }, true, { prefix: 'uaf2dev' });
    try {
      await dev.cli(['check-in']);
      const st = await dev.statusJson();
      expect(st.deployment).toMatchObject({ version: 2, phase: 'ready', stream: { from: 1 } });
      expect(sha256File(join(dev.host, 'images', '2.img'))).toBe(images.versions[1]!.sha256);
      const hist = JSON.parse((await dev.cli(['history', '--json'])).stdout) as { entries: { event: string; data: Record<string, unknown> | null }[] };
      const deferred = hist.entries.filter((e) => e.event === 'download:deferred');
      expect(deferred.length).toBeGreaterThanOrEqual(1);
      expect(deferred[0]?.data).toMatchObject({ code: 'E_RETRY_LATER' });
      expect(hist.entries.find((e) => e.event === 'stream-selected')?.data).toMatchObject({ from: 1, onDemand: true });
      const built = (await srv.service.store.diffs()).find((r) => r.from === 1 && r.to === 2);
      expect(built?.sha256).toMatch(/^[0-9a-f]{64}$/);

      await dev.cli(['apply', '--now']);
      expect((await dev.cli(['confirm'])).stdout).toMatch(/committed: image 2/);
      await dev.cli(['check-in']);
      const row = await srv.service.store.device('ondemand');
      expect(row).toMatchObject({ committedVersion: 2, trial: { version: 2, outcome: 'committed', reason: null } });
    } finally {
      await dev.close();
    }
  }, 600_000);
});
