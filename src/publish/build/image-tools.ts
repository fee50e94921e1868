// The build's small tools behind one seam: an empty ext4 for a first version, discarding freed blocks, and the
// filesystem of a path (the work directory must not be on ZFS).
import { realpathSync } from 'node:fs';
import { execa } from 'execa';
import { BuildError } from '../../errors.js';
import { readMounts } from '../../util/proc-mounts.js';

export interface ImageTools {
  /** A new, empty ext4 image file of `sizeMiB` at `path` (a first version has no previous image to build into). */
  mkfs(path: string, sizeMiB: number): Promise<void>;
  /** Discards the free blocks of the mounted image, so the loop file reads zeros there (and holes them). */
  trim(mountpoint: string): Promise<void>;
  /** The fstype of the mount holding `path` (its longest mount prefix). */
  fstypeOf(path: string): string;
}

async function run(cmd: string, args: string[], what: string): Promise<void> {
  const r = await execa(cmd, args, { reject: false, all: true, env: { LC_ALL: 'C' } });
  if (r.exitCode !== 0) throw new BuildError('E_BUILD_SYNC', `${what} failed (${r.exitCode ?? r.signal}): ${String(r.all ?? r.shortMessage).trim()}`, { context: { cmd, args } });
}

export class RealImageTools implements ImageTools {
  mkfs(path: string, sizeMiB: number): Promise<void> {
    return run('mkfs.ext4', ['-q', '-F', '-L', 'root', path, `${sizeMiB}M`], `mkfs.ext4 ${path}`);
  }

  /**
   * fstrim rather than zerofree: measured, both give the same `zfs send -i` and full stream to the byte's order
   * (docs/benchmarks.md, "Freed blocks"); fstrim runs on the mounted image (no second pass over the unmounted file,
   * no extra package). The loop device turns the discards into holes of the work copy, which read as zeros.
   */
  trim(mountpoint: string): Promise<void> {
    return run('fstrim', [mountpoint], `fstrim ${mountpoint}`);
  }

  fstypeOf(path: string): string {
    const real = realpathSync(path);
    let best = { target: '', fstype: '' };
    for (const m of readMounts()) {
      const under = real === m.target || real.startsWith(m.target === '/' ? '/' : `${m.target}/`);
      if (under && m.target.length >= best.target.length) best = m;
    }
    return best.fstype;
  }
}

/** Filesystems an image must never be loop-mounted from (zfs-fuse wedged the machine once). */
export const isZfsFs = (fstype: string): boolean => fstype === 'zfs' || fstype.startsWith('fuse');
