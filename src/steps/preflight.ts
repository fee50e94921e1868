// Pre-flight before arming a trial: nothing is armed unless the device could really boot it and come back.
import { readFileSync, statSync, lstatSync, readlinkSync, existsSync } from 'node:fs';
import { join, posix } from 'node:path';
import { UpgradeError } from '../errors.js';
import { parseMounts, type MountEntry } from '../util/proc-mounts.js';

/** Filesystems Grub can write its environment block on (save_env refuses ZFS, LVM, RAID). */
export const PLAIN_FILESYSTEMS = ['ext2', 'ext3', 'ext4', 'vfat', 'msdos'];

/** The mount that holds `path` (longest matching mount point). Pure. */
export function mountOf(path: string, mounts: MountEntry[]): MountEntry | null {
  let best: MountEntry | null = null;
  for (const m of mounts) {
    const under = path === m.target || path.startsWith(m.target.endsWith('/') ? m.target : `${m.target}/`);
    if (under && (!best || m.target.length > best.target.length)) best = m;
  }
  return best;
}

/** Why Grub could not write grubenv on this mount, or null when it can. Pure. */
export function grubenvFsProblem(m: MountEntry | null): string | null {
  if (!m) return 'no mount holds the grub directory';
  if (!PLAIN_FILESYSTEMS.includes(m.fstype)) return `grub directory is on ${m.fstype}, where Grub cannot save its environment`;
  if (/^\/dev\/(md|mapper\/|dm-)/.test(m.source)) return `grub directory is on ${m.source} (RAID/LVM): Grub cannot write there`;
  return null;
}

export function checkGrubenvWritable(grubDir: string, mountsText = readFileSync('/proc/mounts', 'utf8')): void {
  const problem = grubenvFsProblem(mountOf(grubDir, parseMounts(mountsText)));
  if (problem) throw new UpgradeError('E_PREFLIGHT', problem, { context: { grubDir } });
  const probe = existsSync(join(grubDir, 'grubenv')) ? join(grubDir, 'grubenv') : grubDir;
  if ((statSync(probe).mode & 0o200) === 0) throw new UpgradeError('E_PREFLIGHT', `${probe} is not writable`, { context: { grubDir } });
}

/**
 * Resolves `path` inside a mounted image root without ever leaving it: absolute symlinks are taken relative
 * to the image root (as Grub and the booted system see them), `..` cannot climb above it.
 */
export function resolveInRoot(root: string, path: string, depth = 0): string | null {
  if (depth > 16) return null;
  const parts = posix.normalize(path).split('/').filter(Boolean);
  let cur = '/';
  for (let i = 0; i < parts.length; i++) {
    const next = posix.join(cur, parts[i] as string);
    let st;
    try {
      st = lstatSync(join(root, next));
    } catch {
      return null;
    }
    if (st.isSymbolicLink()) {
      const target = readlinkSync(join(root, next));
      const rest = parts.slice(i + 1).join('/');
      const base = target.startsWith('/') ? target : posix.join(posix.dirname(next), target);
      return resolveInRoot(root, posix.join(base, rest), depth + 1);
    }
    cur = next;
  }
  return join(root, cur);
}

/** Kernel and initrd inside the mounted image, where the Grub entry will look for them. */
export function checkBootFiles(imageRoot: string, files = ['/vmlinuz', '/initrd.img']): void {
  for (const f of files) {
    const p = resolveInRoot(imageRoot, f);
    const st = p ? statSync(p) : null;
    if (!st?.isFile() || st.size === 0) {
      throw new UpgradeError('E_PREFLIGHT', `the image has no usable ${f}`, { context: { file: f } });
    }
  }
}

export function checkEntryHasPanic(grubCfg: string, version: number): void {
  const start = grubCfg.indexOf(`--id img-${version} `);
  const entry = start === -1 ? '' : grubCfg.slice(start, grubCfg.indexOf('}', start));
  if (!/\blinux\b[^\n]*\bpanic=\d+/.test(entry)) {
    throw new UpgradeError('E_PREFLIGHT', `the Grub entry of image ${version} has no panic= (a failed boot would hang)`, { context: { version } });
  }
}

