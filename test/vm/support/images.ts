// The e2e image versions: one mkfs of the appliance tree, then small debugfs edits per version, published with upgradectl.
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { createPool, sha256File, zfsRetry, type TestPool } from '../../../src/sandbox/pools.js';
import { seedDevice } from '../../../src/sandbox/device.js';
import { FSTAB, guestConfig, POOL } from './appliance.js';

export const CLI = join(process.cwd(), 'dist/src/cli/upgradectl.js');
const FAKE_TIME = { E2FSPROGS_FAKE_TIME: '1700000000' };
const IMAGE_FS_UUID = '5e1f0000-0000-4000-8000-00000000e2e0';

/** What each published version is, beyond its /etc/e2e/image-version marker. */
export const VERSION_ROLES: Record<number, string> = {
  1: 'factory image',
  2: 'good',
  3: 'initrd without the upgrade-agent hook: cannot mount its image root',
  4: 'init exits at once: kernel panic',
  5: 'init hangs forever',
  6: 'health check fails',
  7: 'good (power cut during migrate)',
  8: 'good (power cut after arming the trial)',
  9: 'good, until a power cut after its trial moved the default; then its health check fails',
  10: 'good, read-only: its config drops `rw` from the entries; tmpfs on /var and /tmp',
  11: 'read-only, health check fails',
  12: 'good, read-only',
};

/** The newest version built. */
export const LAST_VERSION = 12;

export interface Publisher {
  pool: TestPool;
  dataset: string;
  imagePath: string;
  keyFile: string;
  key: { keyid: string; publicKey: string };
  www: string;
  sizes: Map<number, { image: number; sha256: string }>;
}

/** The agent's config of the read-only images: the run's config without `rw`. */
function roConfig(p: Publisher): string {
  const c = guestConfig(p.key) as { boot: Record<string, unknown> };
  return JSON.stringify({ ...c, boot: { ...c.boot, extraArgs: 'console=ttyS0' } }, null, 2);
}

async function debugfs(image: string, commands: string[]): Promise<void> {
  const r = await execa('debugfs', ['-w', '-f', '-', image], { input: `${commands.join('\n')}\n`, env: FAKE_TIME, all: true });
  // debugfs exits 0 even when a command fails: its messages are the only sign.
  const errors = (r.all ?? '').split('\n').filter((l) => /not found|cannot|error|File exists/i.test(l));
  if (errors.length > 0) throw new Error(`debugfs on ${image}: ${errors.join('; ')}`);
}

export async function cli(args: string[]): Promise<string> {
  return (await execa('node', [CLI, ...args])).stdout;
}

/** The publisher's signing key, made with `upgradectl keygen`; the appliance trusts its public half. */
export async function makeKey(workDir: string): Promise<{ keyFile: string; key: { keyid: string; publicKey: string } }> {
  const keyBase = join(workDir, 'fleet-key');
  const key = JSON.parse(await cli(['keygen', '--out', keyBase])) as { keyid: string; publicKey: string };
  return { keyFile: `${keyBase}.key`, key: { keyid: key.keyid, publicKey: key.publicKey } };
}

/** Publisher pool and version 1: the appliance tree as an ext4 image file in a dataset (layout `file`). */
export async function startPublisher(
  workDir: string, tree: string, imageMiB: number, signing: { keyFile: string; key: { keyid: string; publicKey: string } },
): Promise<Publisher> {
  const pool = await createPool(workDir, 'uae2epub', 4096);
  const dataset = `${pool.name}/images`;
  await zfsRetry('zfs', ['create', dataset]);
  const imagePath = join(pool.mountpoint, 'images', 'root.img');
  await execa('mkfs.ext4', ['-q', '-F', '-L', 'appliance', '-U', IMAGE_FS_UUID, '-E', `hash_seed=${IMAGE_FS_UUID}`, '-d', tree, imagePath, `${imageMiB}M`], { env: FAKE_TIME });
  const www = join(workDir, 'fleet', 'www');
  mkdirSync(www, { recursive: true });
  const p: Publisher = { pool, dataset, imagePath, keyFile: signing.keyFile, key: signing.key, www, sizes: new Map() };
  await snapshot(p, 1);
  return p;
}

async function snapshot(p: Publisher, version: number): Promise<void> {
  await zfsRetry('zfs', ['snapshot', `${p.dataset}@${version}`]);
  p.sizes.set(version, { image: statSync(p.imagePath).size, sha256: sha256File(p.imagePath) });
}

/** Makes versions 2..LAST_VERSION (see VERSION_ROLES) as edits of the previous one, snapshots and publishes each (diff from the previous). */
export async function buildVersions(p: Publisher, tree: string, kernelVersion: string, workDir: string): Promise<void> {
  const files = join(workDir, 'edits');
  mkdirSync(files, { recursive: true });
  const f = (name: string, text: string, mode = 0o644): string => {
    const path = join(files, name);
    writeFileSync(path, text, { mode });
    return path;
  };
  const initrd = `/boot/initrd.img-${kernelVersion}`;
  const marker = (v: number) => ['rm /etc/e2e/image-version', `write ${f(`version-${v}`, `${v}\n`)} /etc/e2e/image-version`];
  const panicInit = f('panic-init', '#!/bin/sh\necho "e2e: init of image 4 exits on purpose"\nexit 1\n', 0o755);
  const hangInit = f('hang-init', '#!/bin/sh\necho "E2E hang {}" > /dev/ttyS1\nwhile :; do sleep 3600; done\n', 0o755);
  const edits: Record<number, string[]> = {
    2: [],
    3: [`rm ${initrd}`, `write ${join(tree, `boot/initrd.img-${kernelVersion}.nohook`)} ${initrd}`],
    4: [`rm ${initrd}`, `write ${join(tree, initrd)} ${initrd}`, 'rm /usr/sbin/init', `write ${panicInit} /usr/sbin/init`],
    5: ['rm /usr/sbin/init', `write ${hangInit} /usr/sbin/init`],
    6: ['rm /usr/sbin/init', 'symlink /usr/sbin/init ../lib/systemd/systemd', `write ${f('health-fails', 'image 6 is built to fail its health check\n')} /etc/e2e/health-fails`],
    7: ['rm /etc/e2e/health-fails'],
    8: [],
    9: [],
    // A read-only root: the entries say plain `ro` once 10's agent writes grub.cfg; what the services write goes to tmpfs.
    10: ['rm /etc/upgrade-agent/config.json', `write ${f('config-ro.json', roConfig(p))} /etc/upgrade-agent/config.json`,
      'rm /etc/fstab', `write ${f('fstab-ro', `${FSTAB}tmpfs /var tmpfs mode=0755,nosuid,nodev 0 0\ntmpfs /tmp tmpfs mode=1777,nosuid,nodev 0 0\n`)} /etc/fstab`],
    11: [`write ${f('health-fails-11', 'image 11 is built to fail its health check\n')} /etc/e2e/health-fails`],
    12: ['rm /etc/e2e/health-fails'],
  };
  for (let v = 2; v <= LAST_VERSION; v++) {
    await debugfs(p.imagePath, [...marker(v), ...(edits[v] ?? [])]);
    const fsck = await execa('e2fsck', ['-fn', p.imagePath], { reject: false, all: true });
    if (fsck.exitCode !== 0) throw new Error(`image ${v} does not pass e2fsck -fn:\n${fsck.all}`);
    await snapshot(p, v);
    // With E2E_READONLY=1, 10 also comes from 1, so that scenario 7 can run on its own (`-t 'QEMU 7'`) on a device still on 1.
    const from = v === 10 && process.env['E2E_READONLY'] === '1' ? `${v - 1},1` : String(v - 1);
    await cli(['publish', '--dataset', p.dataset, '--version', String(v), '--from', from, '--no-full', '--key', p.keyFile,
      '--hardware', 'e2e-x86', '--channel', 'stable', '--label', `e2e ${v}`, '--out', p.www]);
  }
}

/** The guest's pool on its own disk file: image 1 received from a full stream (as at manufacture), exported to `imagesDir`. */
export async function makeGuestPool(p: Publisher, vdev: string, imagesDir: string, workDir: string): Promise<void> {
  await zfsRetry('zpool', ['destroy', '-f', POOL]).catch(() => undefined);
  await execa('truncate', ['-s', '3G', vdev]);
  await zfsRetry('zpool', ['create', POOL, vdev]);
  const v1 = p.sizes.get(1)!;
  await seedDevice({ publisherDataset: p.dataset, image: { version: 1, snapshot: `${p.dataset}@1`, size: v1.image, sha256: v1.sha256 },
    pool: POOL, dataset: 'images', imagesDir, workDir });
  await zfsRetry('zpool', ['export', POOL]);
}
