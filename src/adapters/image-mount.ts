// Mounting an ext4 image file to write into it: the ImageMounter seam and its loop-mount implementation.
import { readFile, mkdir, mkdtemp, readdir, realpath, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { loadExeca } from './exec.js';
import { MigrateError } from '../errors.js';
import { parseMounts } from '../util/proc-mounts.js';

/** Where an image is mounted right now; `ours` = under this mounter's runtime dir (a leftover of a crash). */
export interface ImageMount {
  mountpoint: string;
  ours: boolean;
}

export interface ImageMounter {
  /** A fresh, private, empty directory to mount on. */
  makeMountpoint(): Promise<string>;
  mount(imagePath: string, mountpoint: string, opts: { readOnly: boolean }): Promise<void>;
  /** Unmounts (not mounted is fine) and removes a mountpoint made by makeMountpoint. */
  unmount(mountpoint: string): Promise<void>;
  /** Every current mount whose loop device is backed by `imagePath`. */
  findMounts(imagePath: string): Promise<ImageMount[]>;
  /** Removes empty mountpoint directories a crash left between creating and mounting them. */
  removeStale(): Promise<void>;
  /** syncfs of a mounted image: its data is on the image file before the umount, even if that hangs or is killed. */
  syncfs(mountpoint: string): Promise<void>;
}

export interface LoopMounterOptions {
  /** Parent of the temporary mountpoints (default os.tmpdir(); /run/upgrade-agent on a device: gone at boot). */
  runtimeDir?: string;
  /** Injected for tests; the kernel's list of mounts otherwise. */
  procMounts?: string;
  /** How long umount may keep saying "busy" before we give up. */
  busyTimeoutMs?: number;
}

const PREFIX = 'ua-migrate-';

/**
 * Loop mount rather than debugfs: the kernel's ext4 is the same code that reads the image at boot, so what we
 * write is what the new OS sees (journal, extents, checksums all handled); plain chown/chmod/utimes/lutimes work
 * on every file type, where debugfs cannot easily set the owner or mtime of a symlink; and copying a tree is one
 * syscall per file instead of one debugfs command each. Options: nosuid/nodev/noexec because nothing from the
 * image should ever run or open devices from here; noatime so reading to compare writes nothing.
 */
export class LoopMounter implements ImageMounter {
  readonly runtimeDir: string;
  private readonly procMounts: string;
  private readonly busyTimeoutMs: number;

  constructor(opts: LoopMounterOptions = {}) {
    this.runtimeDir = opts.runtimeDir ?? tmpdir();
    this.procMounts = opts.procMounts ?? '/proc/mounts';
    this.busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
  }

  /** `<runtimeDir>/ua-migrate-XXXXXX/root`: the 0700 parent keeps other users out of the mounted image. */
  async makeMountpoint(): Promise<string> {
    await mkdir(this.runtimeDir, { recursive: true, mode: 0o700 });
    const dir = await mkdtemp(join(this.runtimeDir, PREFIX));
    await mkdir(join(dir, 'root'), { mode: 0o755 });
    return join(dir, 'root');
  }

  async mount(imagePath: string, mountpoint: string, opts: { readOnly: boolean }): Promise<void> {
    const o = ['loop', 'nosuid', 'nodev', 'noexec', 'noatime', ...(opts.readOnly ? ['ro'] : [])].join(',');
    const execa = await loadExeca();
    const r = await execa('mount', ['-t', 'ext4', '-o', o, '--', imagePath, mountpoint], { reject: false, all: true });
    if (r.exitCode !== 0) {
      throw new MigrateError('E_MIGRATE_MOUNT', `mount ${imagePath} on ${mountpoint} failed: ${String(r.all).trim()}`, {
        context: { imagePath, mountpoint, readOnly: opts.readOnly, exitCode: r.exitCode },
      });
    }
  }

  async unmount(mountpoint: string): Promise<void> {
    const deadline = Date.now() + this.busyTimeoutMs;
    while (await this.isMounted(mountpoint)) {
      // `mount -o loop` sets autoclear, so the loop device goes with the last umount.
      const execa = await loadExeca();
      const r = await execa('umount', ['--', mountpoint], { reject: false, all: true });
      if (r.exitCode === 0) break;
      if (!/busy/i.test(String(r.all)) || Date.now() > deadline) {
        throw new MigrateError('E_MIGRATE_MOUNT', `umount ${mountpoint} failed: ${String(r.all).trim()}`, { context: { mountpoint, exitCode: r.exitCode } });
      }
      await new Promise((res) => setTimeout(res, 200));
    }
    await rmdir(mountpoint).catch(() => undefined);
    const parent = dirname(mountpoint);
    if (basename(parent).startsWith(PREFIX)) await rmdir(parent).catch(() => undefined);
  }

  async findMounts(imagePath: string): Promise<ImageMount[]> {
    const image = await realpath(imagePath);
    const ist = await stat(image);
    const runtime = await realpath(this.runtimeDir).catch(() => this.runtimeDir);
    const found: ImageMount[] = [];
    for (const m of await this.mounts()) {
      const dev = /^\/dev\/(loop\d+)$/.exec(m.source)?.[1];
      if (dev === undefined) continue;
      const backing = await readFile(`/sys/block/${dev}/loop/backing_file`, 'utf8').then((s) => s.trim(), () => null);
      if (backing === null) continue;
      let same = backing === image;
      if (!same) {
        // A renamed or differently spelled path still names the same inode.
        const bst = await stat(backing).catch(() => null);
        same = bst !== null && bst.ino === ist.ino && bst.dev === ist.dev;
      }
      if (same) found.push({ mountpoint: m.mountpoint, ours: m.mountpoint.startsWith(`${runtime}/`) });
    }
    return found;
  }

  /** Only empty `ua-migrate-*` directories go: rmdir refuses a mounted or non-empty one (one agent runs at a time). */
  async syncfs(mountpoint: string): Promise<void> {
    const execa = await loadExeca();
    await execa('sync', ['-f', mountpoint]);
  }

  async removeStale(): Promise<void> {
    const names = await readdir(this.runtimeDir).catch(() => [] as string[]);
    for (const n of names.filter((x) => x.startsWith(PREFIX))) {
      const dir = join(this.runtimeDir, n);
      if (await rmdir(join(dir, 'root')).then(() => true, () => false)) await rmdir(dir).catch(() => undefined);
    }
  }

  private async mounts(): Promise<{ source: string; mountpoint: string }[]> {
    return parseMounts(await readFile(this.procMounts, 'utf8')).map((m) => ({ source: m.source, mountpoint: m.target }));
  }

  private async isMounted(mountpoint: string): Promise<boolean> {
    const mp = await realpath(mountpoint).catch(() => mountpoint);
    return (await this.mounts()).some((m) => m.mountpoint === mp);
  }
}
