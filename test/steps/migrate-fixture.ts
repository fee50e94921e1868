// Fixtures for the migrate tests: a source tree with fixed times, real ext4 images from mkfs.ext4 -d, loop mounts.
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { lutimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { LoopMounter } from '../../src/adapters/image-mount.js';

export const T0 = new Date('2020-01-02T03:04:05Z');
export const T1 = new Date('2021-06-07T08:09:10Z');

export interface Sandbox {
  dir: string;
  runtimeDir: string;
  mounter: LoopMounter;
  cleanup(): Promise<void>;
}

/** Unique temp dir; cleanup unmounts anything still mounted below it (a failed test must not leak loop devices). */
export function sandbox(name: string): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const runtimeDir = join(dir, 'run');
  mkdirSync(runtimeDir);
  const mounter = new LoopMounter({ runtimeDir });
  return {
    dir, runtimeDir, mounter,
    async cleanup() {
      const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '');
      for (const mp of mounts.filter((m) => m.startsWith(`${dir}/`)).reverse()) await execa('umount', [mp], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sets every mtime/atime in a tree to `t`, deepest first (setting a child's time does not touch its parent's). */
export async function fixTimes(root: string, t = T0): Promise<void> {
  for (const name of readdirSync(root)) {
    const p = join(root, name);
    if (lstatSync(p).isDirectory()) await fixTimes(p, t);
    await lutimes(p, t, t);
  }
  await lutimes(root, t, t);
}

/** A small /etc-like tree: ssh host keys, confs at several depths, a symlink, a secret. */
export async function makeSource(dir: string): Promise<string> {
  const src = join(dir, 'src');
  const f = (p: string, data: string, mode = 0o644): void => {
    writeFileSync(join(src, p), data);
    chmodSync(join(src, p), mode);
  };
  for (const d of ['etc/ssh', 'etc/app/sub', 'var/lib/app']) mkdirSync(join(src, d), { recursive: true });
  chmodSync(join(src, 'etc/app'), 0o750);
  chownSync(join(src, 'etc/app'), 1234, 5678);
  f('etc/hostname', 'device-1\n');
  f('etc/top.conf', 'top=1\n');
  f('etc/other.txt', 'other\n');
  f('etc/shadow', 'root:*:1::::::\n', 0o640);
  f('etc/ssh/ssh_host_ed25519_key', 'PRIVATE ed25519\n', 0o600);
  f('etc/ssh/ssh_host_ed25519_key.pub', 'ssh-ed25519 AAAA\n');
  f('etc/ssh/ssh_host_rsa_key', 'PRIVATE rsa\n', 0o600);
  f('etc/ssh/ssh_host_rsa_key.pub', 'ssh-rsa AAAA\n');
  f('etc/ssh/sshd_config', 'Port 22\n');
  f('etc/app/app.conf', 'a=1\n');
  f('etc/app/sub/deep.conf', 'deep=1\n');
  f('var/lib/app/state', 'x'.repeat(100_000));
  symlinkSync('/usr/share/zoneinfo/UTC', join(src, 'etc/localtime'));
  symlinkSync('aaa', join(src, 'etc/alt'));
  await fixTimes(src);
  return src;
}

/** mkfs.ext4 -d: an image whose files have exactly the tree's owners, modes and times. */
export async function makeImage(img: string, contentDir: string | null, sizeMiB = 16): Promise<string> {
  const args = ['-q', '-F', ...(contentDir === null ? [] : ['-d', contentDir]), img, `${sizeMiB}M`];
  await execa('mkfs.ext4', args);
  return img;
}

/** The new image of the migrate tests: its own /etc with an older hostname ('factory') and no keys yet. */
export async function makeFactoryImage(sb: Sandbox): Promise<string> {
  const base = join(sb.dir, 'base');
  mkdirSync(join(base, 'etc'), { recursive: true });
  writeFileSync(join(base, 'etc/hostname'), 'factory\n');
  return makeImage(join(sb.dir, 'new.img'), base);
}

/** `cp -a src dst`: a target tree that starts identical to the source. */
export async function copyTree(src: string, dst: string): Promise<string> {
  await execa('cp', ['-a', src, dst]);
  return dst;
}

export async function withMounted<T>(sb: Sandbox, img: string, fn: (mp: string) => Promise<T>, readOnly = false): Promise<T> {
  const mp = await sb.mounter.makeMountpoint();
  await sb.mounter.mount(img, mp, { readOnly });
  try {
    return await fn(mp);
  } finally {
    await sb.mounter.unmount(mp);
  }
}

export const sha256File = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

export interface DebugfsStat {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  fastLink: string | null;
}

/** Reads an inode straight from the unmounted image, without the kernel: an independent witness. */
export async function debugfsStat(img: string, path: string): Promise<DebugfsStat> {
  const { stdout } = await execa('debugfs', ['-R', `stat ${path}`, img]);
  const num = (re: RegExp): number => Number(re.exec(stdout)?.[1] ?? NaN);
  return {
    type: /Type:\s+(\S+)/.exec(stdout)?.[1] ?? '?',
    mode: parseInt(/Mode:\s+(\d+)/.exec(stdout)?.[1] ?? 'NaN', 8),
    uid: num(/User:\s+(\d+)/),
    gid: num(/Group:\s+(\d+)/),
    mtime: parseInt(/mtime: 0x([0-9a-f]+)/.exec(stdout)?.[1] ?? 'NaN', 16),
    fastLink: /Fast link dest: "(.*)"/.exec(stdout)?.[1] ?? null,
  };
}

export async function e2fsckClean(img: string): Promise<boolean> {
  return (await execa('e2fsck', ['-fn', img], { reject: false })).exitCode === 0;
}

/** Mountpoints of anything below `dir` (nothing may stay mounted after a migration). */
export const mountsUnder = (dir: string): string[] =>
  readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${dir}/`));
