// A whole sandbox for CLI-level tests: publisher pool + signed files over HTTPS, and a device with its own pool and /host.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { createPool, buildImageVersions, type PublishedImages, type TestPool } from './zfs-pool.js';
import { seedDevice } from '../../src/sandbox/device.js';
import { makeThrowawayCa, type ThrowawayCa } from './tls.js';
import { startFleetServer, type FleetServer } from '../../src/fleet/server.js';
import { generateKeyPair, type KeyPair } from '../../src/trust/keys.js';
import { publish } from '../../src/publish/publish.js';
import { ZfsCli } from '../../src/adapters/zfs.js';
import { silentLogger } from '../../src/log.js';
import type { StatusView } from '../../src/cli/status-view.js';

/** The sandbox's upgradectl: the production verbs, rebooting by the sandbox's simulated power cycle. */
export const CLI = join(process.cwd(), 'dist/src/sandbox/upgradectl.js');

export interface Fleet {
  dir: string;
  ca: ThrowawayCa;
  key: KeyPair;
  pubPool: TestPool;
  images: PublishedImages;
  www: string;
  server: FleetServer;
  /** What POST /v1/checkin answers with: the target version (manifest under manifests/). */
  target: { version: number | null };
  /** Every check-in report the server received, oldest first. */
  reports: { deviceId?: string; bootedVersion?: number | null; committedVersion?: number | null }[];
  publishVersion(version: number, from: number[] | 'all', full?: boolean, chunks?: boolean): Promise<void>;
  close(): Promise<void>;
}

export async function startFleet(opts: { versions: number; sizeMiB?: number; blobKiB?: number; poolPrefix?: string }): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'ua-fleet-'));
  mkdirSync(join(dir, 'ca'));
  const ca = await makeThrowawayCa(join(dir, 'ca'));
  const key = generateKeyPair();
  const pubPool = await createPool(dir, opts.poolPrefix ?? 'uapub', 256);
  const images = await buildImageVersions(pubPool, { workDir: dir, count: opts.versions, sizeMiB: opts.sizeMiB ?? 32, blobKiB: opts.blobKiB ?? 1024 });
  const www = join(dir, 'www');
  mkdirSync(www, { recursive: true });
  const target: { version: number | null } = { version: null };
  const reports: Fleet['reports'] = [];
  const server = await startFleetServer({
    root: www,
    tls: { key: ca.key, cert: ca.cert },
    checkin: (body) => {
      reports.push(body as Fleet['reports'][number]);
      return { target: target.version === null ? null : { version: target.version, manifest: `manifests/${target.version}.json` } };
    },
  });
  const zfs = new ZfsCli({ busyTimeoutSec: 30, log: silentLogger() });
  return {
    dir, ca, key, pubPool, images, www, server, target, reports,
    publishVersion: async (version, from, full = true, chunks = true) => {
      await publish({ zfs, now: () => Date.now() }, {
        dataset: images.dataset, outDir: www, version, label: `test ${version}`, hardware: ['test-board'], channel: 'stable',
        expiresDays: 30, from, full, compression: 'xz', mirrors: [], imageFile: 'root.img', keys: [key], chunks,
      });
    },
    close: async () => {
      await server.close();
      await pubPool.destroy();
    },
  };
}

export interface Device {
  dir: string;
  host: string;
  pool: TestPool;
  configPath: string;
  config: Record<string, unknown>;
  cli(args: string[], opts?: { reject?: boolean }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  statusJson(): Promise<StatusView>;
  close(): Promise<void>;
}

/**
 * A device that runs image 1: its pool holds @1 (from a full stream), /host/images/1.img is "booted".
 * `pool.mountpoint: 'none'` makes its pool as `zpool create -m none` does; `pool.prefix` names it (default uadev).
 */
export async function makeDevice(
  fleet: Fleet,
  name: string,
  extra: Record<string, unknown> = {},
  seed = true,
  pool0: { mountpoint?: 'none'; prefix?: string } = {},
): Promise<Device> {
  const dir = mkdtempSync(join(tmpdir(), `ua-dev-${name}-`));
  const host = join(dir, 'host');
  mkdirSync(join(host, 'images'), { recursive: true });
  const pool = await createPool(dir, pool0.prefix ?? 'uadev', 256, pool0.mountpoint ? { mountpoint: pool0.mountpoint } : {});
  if (seed) {
    await seedDevice({
      publisherDataset: fleet.images.dataset, image: fleet.images.versions[0]!, pool: pool.name, dataset: 'images',
      imagesDir: join(host, 'images'), workDir: dir,
    });
  }
  const cmdline = join(dir, 'cmdline');
  writeFileSync(cmdline, `root=/dev/vda1 ${seed ? 'ua.image=/images/1.img ' : ''}panic=10\n`);
  const config = {
    deviceId: name,
    hardware: 'test-board',
    paths: { hostRoot: host, socket: join(dir, 'agent.sock') },
    zfs: { pool: pool.name, dataset: 'images' },
    fleet: { url: fleet.server.url, caFile: fleet.ca.caFile },
    trust: { keys: [{ keyid: fleet.key.keyid, publicKey: fleet.key.publicKey }] },
    space: { reserveBytes: 0 },
    // The fleet server's 202s say Retry-After: 1; the 30 s default floor would make each one cost half a minute here.
    retry: { minDelaySec: 1 },
    boot: { cmdlineFile: cmdline, bootIdFile: join(dir, 'boot_id'), kernelRoot: '/dev/vda1' },
    health: { systemd: false, required: ['true'] },
    migrate: { sourceRoot: join(dir, 'rootfs'), allow: ['/etc/app.conf', '/etc/ssh/ssh_host_*_key'], runtimeDir: join(dir, 'run') },
    logLevel: 'warn',
    ...extra,
  };
  writeFileSync(join(dir, 'boot_id'), 'first-boot\n');
  mkdirSync(join(dir, 'rootfs', 'etc', 'ssh'), { recursive: true });
  writeFileSync(join(dir, 'rootfs', 'etc', 'app.conf'), `device=${name}\n`);
  writeFileSync(join(dir, 'rootfs', 'etc', 'ssh', 'ssh_host_ed25519_key'), 'secret\n', { mode: 0o600 });
  mkdirSync(join(host, 'boot', 'grub'), { recursive: true });
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const cli: Device['cli'] = async (args, o = {}) => {
    const r = await execa('node', [CLI, ...args, '--config', configPath], { reject: false, all: false });
    if (o.reject !== false && r.exitCode !== 0) throw new Error(`upgradectl ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}\n${r.stdout}`);
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  return {
    dir, host, pool, configPath, config, cli,
    statusJson: async () => JSON.parse((await cli(['status', '--json'])).stdout) as StatusView,
    close: () => pool.destroy(),
  };
}
