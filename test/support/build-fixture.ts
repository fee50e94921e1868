// The image build tests' sandbox: a zfs-fuse pool, work and tree dirs outside ZFS, the real adapters, and a way to
// look inside a built image (copied out of its snapshot first: never loop-mount a file that lives in zfs-fuse).
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ZfsCli } from '../../src/adapters/zfs.js';
import { LoopMounter } from '../../src/adapters/image-mount.js';
import { E2fsck } from '../../src/adapters/fsck.js';
import { silentLogger } from '../../src/log.js';
import { withSnapshotFile } from '../../src/steps/snapshot-file.js';
import { buildImage, type BuildDeps, type BuildOptions, type BuildResult } from '../../src/publish/build/image-build.js';
import { copyChanged } from '../../src/publish/build/block-copy.js';
import { RsyncTreeSync } from '../../src/publish/build/tree-sync.js';
import { RealImageTools } from '../../src/publish/build/image-tools.js';
import { readMounts } from '../../src/util/proc-mounts.js';
import { createPool, type TestPool } from './zfs-pool.js';

export interface BuildSandbox {
  base: string;
  pool: TestPool;
  zfs: ZfsCli;
  workDir: string;
  deps: BuildDeps;
  /** A new dataset of the pool. */
  dataset(name: string): Promise<string>;
  build(o: Partial<BuildOptions> & Pick<BuildOptions, 'dataset' | 'version' | 'tree'>): Promise<BuildResult>;
  /** Copies the image of `snapshot` out to `base`, mounts the copy read-only and runs `fn` on its root. */
  inspect<T>(snapshot: string, fn: (root: string) => Promise<T>): Promise<T>;
  /** A copy of the image of `snapshot` under base (the caller removes it). */
  copyOut(snapshot: string): Promise<string>;
  /** `e2fsck -fn` of the image of `snapshot` (copied out first): its exit code. */
  fsck(snapshot: string): Promise<number | null>;
  /** Loop devices whose backing file is under `dir`. */
  loopsUnder(dir: string): Promise<string[]>;
  mountsUnder(dir: string): string[];
  close(): Promise<void>;
}

export async function buildSandbox(name: string): Promise<BuildSandbox> {
  // /var/tmp: a local disk filesystem, never ZFS (the pool's vdev and every loop file live here).
  const base = join('/var/tmp', `uab-${name}-${process.pid}`);
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  const pool = await createPool(base, 'uab', 512);
  const zfs = new ZfsCli({ busyTimeoutSec: 30 });
  const workDir = join(base, 'work');
  const deps: BuildDeps = {
    zfs,
    mounter: (runtimeDir) => new LoopMounter({ runtimeDir }),
    sync: new RsyncTreeSync(),
    fsck: new E2fsck(),
    tools: new RealImageTools(),
    log: silentLogger(),
    now: () => Date.parse('2026-12-01T00:00:00Z'),
  };
  const mountsUnder = (dir: string): string[] => readMounts().map((m) => m.target).filter((t) => t === dir || t.startsWith(`${dir}/`));
  const loopsUnder = async (dir: string): Promise<string[]> => {
    const r = await execa('losetup', ['-l', '-n', '-O', 'NAME,BACK-FILE'], { reject: false });
    return r.stdout.split('\n').filter((l) => l.includes(`${dir}/`));
  };
  let inspectCount = 0;
  const copyOut = async (snapshot: string): Promise<string> => {
    const copy = join(base, `copy-${inspectCount++}.img`);
    const ds = snapshot.split('@')[0] as string;
    await withSnapshotFile({ zfs, log: silentLogger() }, snapshot, `${ds}.copy`, 'root.img', (p) => copyChanged(p, copy).then(() => undefined));
    return copy;
  };
  return {
    copyOut,
    base, pool, zfs, workDir, deps, mountsUnder, loopsUnder,
    async dataset(ds: string) {
      await execa('zfs', ['create', `${pool.name}/${ds}`]);
      return `${pool.name}/${ds}`;
    },
    build: (o) => buildImage(deps, { imageFile: 'root.img', workDir, scrubFiles: [], ...o }),
    async inspect(snapshot, fn) {
      const copy = join(base, `inspect-${inspectCount++}.img`);
      const ds = snapshot.split('@')[0] as string;
      await withSnapshotFile({ zfs, log: silentLogger() }, snapshot, `${ds}.inspect`, 'root.img', (p) => copyChanged(p, copy).then(() => undefined));
      const mounter = new LoopMounter({ runtimeDir: join(base, 'inspect-mnt') });
      const mnt = await mounter.makeMountpoint();
      await mounter.mount(copy, mnt, { readOnly: true });
      try {
        return await fn(mnt);
      } finally {
        await mounter.unmount(mnt);
        rmSync(copy, { force: true });
      }
    },
    async fsck(snapshot) {
      const copy = await copyOut(snapshot);
      try {
        return (await new E2fsck().check(copy)).exitCode;
      } finally {
        rmSync(copy, { force: true });
      }
    },
    // Teardown order (ZFS safety): unmount what is mounted below base (loops detach with their last umount),
    // then destroy the pool, and only then delete the files, the vdev last of all.
    async close() {
      for (const m of mountsUnder(base).filter((t) => !t.startsWith(pool.mountpoint)).sort((a, b) => b.length - a.length)) {
        await execa('umount', [m], { reject: false });
      }
      for (const l of await loopsUnder(base)) await execa('losetup', ['-d', l.split(/\s+/)[0] as string], { reject: false });
      await pool.destroy();
      rmSync(base, { recursive: true, force: true });
    },
  };
}
