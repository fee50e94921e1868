// Sandbox pieces for tests, the demo and the benchmarks: zfs-fuse pools on file vdevs, ext4 image versions, send files.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { readMounts } from '../util/proc-mounts.js';

let poolCounter = 0;

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await execa(cmd, args, { reject: false, env: { LC_ALL: 'C', ...env } });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.exitCode}): ${r.stderr || r.shortMessage}`);
  return r.stdout;
}

/** Runs a zfs/zpool command, retrying while zfs-fuse still calls something busy after files were read. */
export async function zfsRetry(cmd: 'zfs' | 'zpool', args: string[], timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await run(cmd, args);
    } catch (err) {
      if (!/busy/i.test((err as Error).message) || Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}

/**
 * Starts the zfs-fuse daemon unless it runs, and waits until `zpool list` answers. What a zfs-fuse that died left
 * behind is cleared first: its pid file and socket make a new daemon exit at once, and its FUSE mounts (dead,
 * "Transport endpoint is not connected") would make the pools it re-imports from zpool.cache impossible to destroy.
 */
export async function ensureZfsFuse(): Promise<void> {
  // OpenZFS in the kernel (/dev/zfs, e.g. the OpenZFS guest): there is no daemon to start.
  if (existsSync('/dev/zfs')) return;
  const running = (await execa('pgrep', ['-x', 'zfs-fuse'], { reject: false })).exitCode === 0;
  if (!running) {
    rmSync('/run/zfs-fuse.pid', { force: true });
    rmSync('/var/run/zfs/zfs_socket', { force: true });
    for (const mnt of deadZfsMounts()) await execa('umount', ['-l', mnt], { reject: false });
    spawn('zfs-fuse', ['-p', '/run/zfs-fuse.pid'], { stdio: 'ignore', detached: true }).unref();
  }
  for (let i = 0; i < 100; i++) {
    if ((await execa('zpool', ['list'], { reject: false })).exitCode === 0) return;
    await sleep(200);
  }
  throw new Error('zfs-fuse did not come up: install it (apt-get install zfs-fuse) and check /dev/fuse');
}

/** Mount points of type fuse.zfs, deepest first; called only while no zfs-fuse runs, so every one is dead. */
function deadZfsMounts(): string[] {
  return readMounts().filter((m) => m.fstype === 'fuse.zfs').map((m) => m.target).sort((a, b) => b.length - a.length);
}

export interface TestPool {
  name: string;
  /** Where the pool's root dataset would mount; 'none' for a pool made with `-m none` (nothing inherits one). */
  mountpoint: string;
  vdev: string;
  destroy(): Promise<void>;
}

/**
 * A pool on a sparse file vdev under `dir`; the name gets pid and a counter so parallel runs never collide.
 * `mountpoint: 'none'` makes it as `zpool create -m none` does: its datasets have no mountpoint to inherit.
 */
export async function createPool(dir: string, prefix: string, sizeMiB = 256, opts: { mountpoint?: 'none' } = {}): Promise<TestPool> {
  await ensureZfsFuse();
  const name = `${prefix}${process.pid}n${poolCounter++}`;
  const vdev = join(dir, `${name}.vdev`);
  const mountpoint = opts.mountpoint ?? join(dir, `${name}-mnt`);
  mkdirSync(dir, { recursive: true });
  await run('truncate', ['-s', `${sizeMiB}M`, vdev]);
  await run('zpool', ['create', '-m', mountpoint, name, vdev]);
  return {
    name,
    mountpoint,
    vdev,
    destroy: async () => {
      await zfsRetry('zpool', ['destroy', '-f', name]);
      rmSync(vdev, { force: true });
    },
  };
}

/** Deterministic pseudo-random bytes (sha256 in counter mode): images stay reproducible without /dev/urandom. */
export function pseudoRandom(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0, off = 0; off < length; i++) {
    off += createHash('sha256').update(`${seed}:${i}`).digest().copy(out, off);
  }
  return out;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export interface ImageVersion {
  version: number;
  snapshot: string;
  size: number;
  sha256: string;
}

export interface PublishedImages {
  /** `pool/dataset` of the publisher. */
  dataset: string;
  /** The head's image file on the mounted publisher dataset. */
  imagePath: string;
  versions: ImageVersion[];
  /** Changes the image a little (marker + one small blob) and snapshots it as `version`. */
  addVersion(version: number): Promise<ImageVersion>;
}

// Fixed identity and clock for mkfs/debugfs so the same inputs give the same image bytes.
const FS_UUID = '6a0e2b1c-3f4d-4e5a-9b6c-7d8e9fa0b1c2';
const FAKE_TIME = { E2FSPROGS_FAKE_TIME: '1700000000' };

/**
 * Makes `<pool>/<dataset>` holding an ext4 `imageFile` of `sizeMiB`: version 1 from one mkfs, each later version
 * a small debugfs edit of the previous one (so diffs stay small), each snapshotted as `@<version>`.
 */
export async function buildImageVersions(
  pool: TestPool,
  opts: { workDir: string; count: number; sizeMiB?: number; dataset?: string; imageFile?: string; blobKiB?: number },
): Promise<PublishedImages> {
  const dataset = `${pool.name}/${opts.dataset ?? 'pub'}`;
  await run('zfs', ['create', dataset]);
  const mnt = (await run('zfs', ['get', '-H', '-o', 'value', 'mountpoint', dataset])).trim();
  const imagePath = join(mnt, opts.imageFile ?? 'root.img');
  const stage = join(opts.workDir, `stage-${pool.name}`);
  mkdirSync(join(stage, 'root', 'etc'), { recursive: true });
  writeFileSync(join(stage, 'root', 'etc', 'version'), 'version 1\n');
  // Stand-ins for a kernel and an initrd where Grub's entry looks for them (symlinks, as Debian lays them out).
  mkdirSync(join(stage, 'root', 'boot'), { recursive: true });
  writeFileSync(join(stage, 'root', 'boot', 'vmlinuz-sandbox'), pseudoRandom('kernel', 64 * 1024));
  writeFileSync(join(stage, 'root', 'boot', 'initrd.img-sandbox'), pseudoRandom('initrd', 64 * 1024));
  if (!existsSync(join(stage, 'root', 'vmlinuz'))) symlinkSync('boot/vmlinuz-sandbox', join(stage, 'root', 'vmlinuz'));
  if (!existsSync(join(stage, 'root', 'initrd.img'))) symlinkSync('boot/initrd.img-sandbox', join(stage, 'root', 'initrd.img'));
  writeFileSync(join(stage, 'root', 'blob.bin'), pseudoRandom('blob', (opts.blobKiB ?? 1024) * 1024));
  await run('mkfs.ext4', ['-q', '-F', '-U', FS_UUID, '-E', `hash_seed=${FS_UUID}`, '-d', join(stage, 'root'), imagePath, `${opts.sizeMiB ?? 32}M`], FAKE_TIME);

  const versions: ImageVersion[] = [];
  const snap = async (version: number): Promise<ImageVersion> => {
    const sha256 = sha256File(imagePath);
    const size = statSync(imagePath).size;
    const snapshot = `${dataset}@${version}`;
    await run('zfs', ['snapshot', snapshot]);
    const v = { version, snapshot, size, sha256 };
    versions.push(v);
    return v;
  };
  const addVersion = async (version: number): Promise<ImageVersion> => {
    const marker = join(stage, `version-${version}`);
    const delta = join(stage, `delta-${version}`);
    writeFileSync(marker, `version ${version}\n`);
    writeFileSync(delta, pseudoRandom(`delta-${version}`, 64 * 1024));
    const script = join(stage, `edit-${version}.debugfs`);
    writeFileSync(script, ['rm /etc/version', `write ${marker} /etc/version`, `write ${delta} /delta-${version}.bin`, ''].join('\n'));
    await run('debugfs', ['-w', '-f', script, imagePath], FAKE_TIME);
    return snap(version);
  };
  await snap(1);
  for (let v = 2; v <= opts.count; v++) await addVersion(v);
  return { dataset, imagePath, versions, addVersion };
}

/** `zfs send [-i from] snap [| xz]` into `outPath`; returns what a signed manifest would say about it. */
export async function makeSendFile(
  from: string | null,
  snapshot: string,
  outPath: string,
  compression: 'xz' | 'none' = 'xz',
): Promise<{ size: number; sha256: string }> {
  const out = openSync(outPath, 'w');
  try {
    const args = from === null ? ['send', snapshot] : ['send', '-i', from, snapshot];
    const exits: Promise<void>[] = [];
    const watch = (name: string, child: ReturnType<typeof spawn>): void => {
      exits.push(
        new Promise((resolve, reject) => {
          child.on('error', reject);
          child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${name} exited ${code}`))));
        }),
      );
    };
    if (compression === 'none') {
      watch('zfs send', spawn('zfs', args, { stdio: ['ignore', out, 'inherit'] }));
    } else {
      const xz = spawn('xz', ['-T1', '-3', '-c'], { stdio: ['pipe', out, 'inherit'] });
      watch('xz', xz);
      watch('zfs send', spawn('zfs', args, { stdio: ['ignore', xz.stdin, 'inherit'] }));
      xz.stdin?.destroy(); // the children hold the pipe; xz sees EOF when zfs send ends
    }
    await Promise.all(exits);
  } finally {
    closeSync(out);
  }
  const data = readFileSync(outPath);
  return { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}
