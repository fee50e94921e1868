// Pre-flight of Grub's side before a trial is armed: grubenv on a filesystem Grub can write, an entry that panics.
import { statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { UpgradeError } from '../errors.js';
import type { MountEntry } from '../util/proc-mounts.js';

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

/** Grub could write grubenv in `grubDir`, given the mount table (read by the caller: /proc/self/mounts on a device). */
export function checkGrubenvWritable(grubDir: string, mounts: MountEntry[]): void {
  const problem = grubenvFsProblem(mountOf(grubDir, mounts));
  if (problem) throw new UpgradeError('E_PREFLIGHT', problem, { context: { grubDir } });
  const probe = existsSync(join(grubDir, 'grubenv')) ? join(grubDir, 'grubenv') : grubDir;
  if ((statSync(probe).mode & 0o200) === 0) throw new UpgradeError('E_PREFLIGHT', `${probe} is not writable`, { context: { grubDir } });
}

/** A failed boot of the entry must end (panic=N) so that Grub's fallback can run. */
export function checkEntryHasPanic(grubCfg: string, version: number): void {
  const start = grubCfg.indexOf(`--id img-${version} `);
  const entry = start === -1 ? '' : grubCfg.slice(start, grubCfg.indexOf('}', start));
  if (!/\blinux\b[^\n]*\bpanic=\d+/.test(entry)) {
    throw new UpgradeError('E_PREFLIGHT', `the Grub entry of image ${version} has no panic= (a failed boot would hang)`, { context: { version } });
  }
}

