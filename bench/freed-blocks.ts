// What to do with the blocks a build frees: nothing, fstrim on the loop mount, or zerofree before the check —
// measured as the xz-compressed `zfs send -i` and full stream of a version that deletes most of its files.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { E2fsck, type ImageFsck } from '../src/adapters/fsck.js';
import { LoopMounter } from '../src/adapters/image-mount.js';
import { ZfsCli } from '../src/adapters/zfs.js';
import { silentLogger } from '../src/log.js';
import { buildImage, type BuildDeps } from '../src/publish/build/image-build.js';
import { RealImageTools } from '../src/publish/build/image-tools.js';
import { RsyncTreeSync } from '../src/publish/build/tree-sync.js';
import { createPool, makeSendFile } from '../src/sandbox/pools.js';
import { makeTree } from '../src/sandbox/root-tree.js';

type Mode = 'none' | 'fstrim' | 'zerofree';

/** zerofree needs the image unmounted: it runs just before the read-only check. */
class ZerofreeThenCheck implements ImageFsck {
  private readonly real = new E2fsck();
  check(imagePath: string) {
    execFileSync('zerofree', [imagePath]);
    return this.real.check(imagePath);
  }
  preen(imagePath: string) {
    return this.real.preen(imagePath);
  }
}

async function main(): Promise<void> {
  const base = join('/var/tmp', `uab-freed-${process.pid}`);
  mkdirSync(base, { recursive: true });
  const pool = await createPool(base, 'uabfree', 768);
  const files = Number(process.env['BENCH_FILES'] ?? 160);
  try {
    const t1 = makeTree(join(base, 't1'), { release: 1, files });
    const t2 = makeTree(join(base, 't2'), { release: 2, files: Math.floor(files / 8) });
    const rows: Record<string, unknown>[] = [];
    for (const mode of ['none', 'fstrim', 'zerofree'] as Mode[]) {
      const ds = `${pool.name}/${mode}`;
      // BENCH_COMPRESSION=on: zero-filled records are stored (and sent) as holes.
      execFileSync('zfs', ['create', ...(process.env['BENCH_COMPRESSION'] ? ['-o', `compression=${process.env['BENCH_COMPRESSION']}`] : []), ds]);
      const tools = new RealImageTools();
      const deps: BuildDeps = {
        zfs: new ZfsCli(),
        mounter: (runtimeDir) => new LoopMounter({ runtimeDir }),
        sync: new RsyncTreeSync(),
        fsck: mode === 'zerofree' ? new ZerofreeThenCheck() : new E2fsck(),
        tools: mode === 'fstrim' ? tools : { mkfs: (p, s) => tools.mkfs(p, s), trim: async () => undefined, fstypeOf: (p) => tools.fstypeOf(p) },
        log: silentLogger(),
        now: () => Date.now(),
      };
      const o = { dataset: ds, imageFile: 'root.img', workDir: join(base, 'work'), scrubFiles: [] };
      await buildImage(deps, { ...o, version: 1, tree: t1, sizeMiB: 128 });
      await buildImage(deps, { ...o, version: 2, tree: t2 });
      const inc = await makeSendFile(`${ds}@1`, `${ds}@2`, join(base, `${mode}-1-2.zfs.xz`));
      const raw = await makeSendFile(`${ds}@1`, `${ds}@2`, join(base, `${mode}-1-2.zfs`), 'none');
      const full = await makeSendFile(null, `${ds}@2`, join(base, `${mode}-full-2.zfs.xz`));
      rows.push({ mode, incrementalRawBytes: raw.size, incrementalXzBytes: inc.size, fullXzBytes: full.size });
    }
    console.log(JSON.stringify({ compression: process.env['BENCH_COMPRESSION'] ?? 'off (default)', files, deletedMiB: ((files - Math.floor(files / 8)) * 64) / 1024, rows }, null, 2));
  } finally {
    await pool.destroy();
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
