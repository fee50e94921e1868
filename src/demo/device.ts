// The demo's device: its own pool holding image 1, a sandbox /host booted from /images/1.img, and its config.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPool, type ImageVersion, type PublishedImages, type TestPool } from '../sandbox/pools.js';
import { seedDevice } from '../sandbox/device.js';
import { tool } from './processes.js';

export interface DemoDevice {
  configPath: string;
  /** The operator's service check; the demo breaks it for image 4. */
  check: string;
  /** The image Grub booted last (from the sandbox kernel command line). */
  bootedNow(): string;
}

export async function makeDemoDevice(o: { dir: string; images: PublishedImages; pubKeyFile: string; fleetUrl: string; caFile: string }, pools: TestPool[]): Promise<DemoDevice> {
  const pool = await createPool(o.dir, 'demodev', 512);
  pools.push(pool);
  const devDir = join(o.dir, 'device');
  const host = join(devDir, 'host');
  mkdirSync(join(host, 'images'), { recursive: true });
  await seedDevice({
    publisherDataset: o.images.dataset, image: o.images.versions[0] as ImageVersion, pool: pool.name, dataset: 'images',
    imagesDir: join(host, 'images'), workDir: o.dir,
  });
  writeFileSync(join(devDir, 'cmdline'), 'root=/dev/sda1 ua.image=/images/1.img panic=10\n');
  writeFileSync(join(devDir, 'boot_id'), 'first-boot\n');
  // The running system's files the allow-list carries into each new image.
  mkdirSync(join(devDir, 'rootfs', 'etc'), { recursive: true });
  writeFileSync(join(devDir, 'rootfs', 'etc', 'app.conf'), 'customer=ACME\nretention_days=30\n');
  const check = join(devDir, 'app-healthy.sh');
  writeFileSync(check, '#!/bin/sh\necho "app: all services up"\nexit 0\n', { mode: 0o755 });
  mkdirSync(join(host, 'boot', 'grub'), { recursive: true });
  const pubKey = JSON.parse(readFileSync(o.pubKeyFile, 'utf8')) as { keyid: string; publicKey: string };
  const configPath = join(devDir, 'config.json');
  writeFileSync(configPath, JSON.stringify({
    deviceId: 'demo-device-1',
    hardware: 'demo-board',
    paths: { hostRoot: host, socket: join(devDir, 'agent.sock') },
    zfs: { pool: pool.name, dataset: 'images' },
    fleet: { url: o.fleetUrl, caFile: o.caFile },
    trust: { keys: [pubKey] },
    space: { reserveBytes: 0 },
    boot: { cmdlineFile: join(devDir, 'cmdline'), bootIdFile: join(devDir, 'boot_id'), kernelRoot: '/dev/sda1' },
    health: { systemd: false, required: [check] },
    migrate: { sourceRoot: join(devDir, 'rootfs'), allow: ['/etc/app.conf'], runtimeDir: join(devDir, 'run') },
    download: { chunkFsyncBytes: 1 << 20 },
    // The server asks for 30 s or more while it builds a diff; the demo's device comes back after 2 s at most.
    retry: { minDelaySec: 1, maxDelaySec: 2, jitterPct: 0 },
  }, null, 2));
  // The installer's grub.cfg: image 1 committed.
  writeFileSync(join(host, 'boot', 'grub', 'grub.cfg'), await tool(['grub-cfg', '--print', '--config', configPath]));
  const bootedNow = (): string => /ua\.image=(\S+)/.exec(readFileSync(join(devDir, 'cmdline'), 'utf8'))?.[1] ?? '?';
  return { configPath, check, bootedNow };
}
