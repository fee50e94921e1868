// Issue 11's download-size table on a Debian minbase root: a diff built into the previous image against one
// rebuilt from scratch, `zstd --patch-from` of the raw images, and the changed files compressed (the lower bound),
// for each image-dataset recordsize and xz level asked for (bench/download-size-opts.ts).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E2fsck } from '../src/adapters/fsck.js';
import { LoopMounter } from '../src/adapters/image-mount.js';
import { ZfsCli } from '../src/adapters/zfs.js';
import { silentLogger } from '../src/log.js';
import { buildImage, type BuildDeps } from '../src/publish/build/image-build.js';
import { chunkForRecordsize, copyChanged } from '../src/publish/build/block-copy.js';
import { RealImageTools } from '../src/publish/build/image-tools.js';
import { RsyncTreeSync } from '../src/publish/build/tree-sync.js';
import { withSnapshotFile } from '../src/steps/snapshot-file.js';
import { createPool, makeSendFile, pseudoRandom, zfsRetry } from '../src/sandbox/pools.js';
import { downloadSizeOpts, formatTable, showSize, type OursCell, type PairRow } from './download-size-opts.js';

const OPTS = downloadSizeOpts(process.env);
const IMAGE_MIB = OPTS.imageMiB;
const CACHE = join(process.cwd(), '.cache/bench-roots');

/** A minbase root tar from mmdebstrap, cached by a hash of its command line. */
function minbase(include: string[]): string {
  const args = ['--variant=minbase', '--format=tar', ...(include.length ? [`--include=${include.join(',')}`] : []), 'bookworm'];
  const key = createHash('sha256').update(JSON.stringify(args)).digest('hex').slice(0, 16);
  const tar = join(CACHE, `minbase-${key}.tar`);
  if (existsSync(tar)) return tar;
  mkdirSync(CACHE, { recursive: true });
  // --format=tar: from a name ending in .partial mmdebstrap would guess a directory.
  execFileSync('mmdebstrap', [...args, `${tar}.partial`], { stdio: ['ignore', 'ignore', 'inherit'] });
  renameSync(`${tar}.partial`, tar);
  return tar;
}

/** A text-like application file (compressible as real code and data are), different per release when `gen` is. */
const appFile = (i: number, gen: number): string =>
  Array.from({ length: 40 + (i % 60) }, (_, l) => `export const v${i}_${l} = ${JSON.stringify(pseudoRandom(`app${i}:${gen}:${l}`, 12).toString('hex'))}; // line ${l}\n`).join('');

/** Unpacks a root tar and adds what `image build` requires: kernel and initrd stand-ins, the agent's files, an app. */
function tree(dir: string, tar: string, app: number | null): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-xpf', tar, '-C', dir]);
  const put = (p: string, data: string | Buffer, mode = 0o644): void => {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), data, { mode });
  };
  put('boot/vmlinuz-6.1.0-bench', pseudoRandom('kernel', 8 * 1024 * 1024));
  put('boot/initrd.img-6.1.0-bench', pseudoRandom('initrd', 16 * 1024 * 1024));
  execFileSync('ln', ['-sfn', 'boot/vmlinuz-6.1.0-bench', join(dir, 'vmlinuz')]);
  execFileSync('ln', ['-sfn', 'boot/initrd.img-6.1.0-bench', join(dir, 'initrd.img')]);
  put('usr/bin/upgradectl', '#!/bin/sh\n', 0o755);
  put('usr/lib/systemd/system/upgrade-agent.service', '[Service]\n');
  put('usr/lib/systemd/system/upgrade-agent-confirm.service', '[Service]\n');
  if (app !== null) {
    // A file-heavy release: 3000 source files, 30 binaries; release 2 changes every 5th file and 3 binaries.
    for (let i = 0; i < 3000; i++) put(`opt/app/src/m${Math.floor(i / 100)}/f${i}.js`, appFile(i, app === 2 && i % 5 === 0 ? 2 : 1));
    for (let i = 0; i < 30; i++) put(`opt/app/lib/b${i}.so`, pseudoRandom(`bin${i}:${app === 2 && i < 3 ? 2 : 1}`, 256 * 1024));
  }
  return dir;
}

/** Bytes of the files of `b` that are new or changed against `a`, as one tar through `xz -6`. */
function lowerBound(a: string, b: string, out: string): number {
  const list = execFileSync('rsync', ['-anc', '--out-format=%n', '--', `${b}/`, `${a}/`]).toString().split('\n').filter((l) => l && !l.endsWith('/'));
  writeFileSync(`${out}.list`, list.join('\n'));
  execFileSync('sh', ['-c', `tar -cf - -C "${b}" --no-recursion -T "${out}.list" | xz -T1 -6 > "${out}"`]);
  return statSync(out).size;
}

/** `zfs send [-i from] to` compressed with `xz -T1 -<level>` for each level: compressed bytes per level. */
async function sendSizes(from: string | null, to: string, out: string, levels: number[]): Promise<number[]> {
  await makeSendFile(from, to, out, 'none');
  const sizes = levels.map((l) => Number(execFileSync('sh', ['-c', `xz -T1 -${l} -c < "${out}" | wc -c`]).toString().trim()));
  rmSync(out);
  return sizes;
}

const PAIRS = [[1, 2, 'one package added (less)'], [3, 4, 'application release (600 of 3000 files, 3 of 30 libraries)']] as const;

interface Variant {
  recordsize: number;
  buildSec: number[];
  /** `zfs get used` of the ours dataset after version 4, bytes. */
  oursUsed: number;
  /** `zfs send ours@4` through xz at the lowest level asked for. */
  fullXz: number;
  fullXzLevel: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  const base = join('/var/tmp', `uab-dlsize-${process.pid}`);
  mkdirSync(base, { recursive: true });
  const pool = await createPool(base, 'uabdl', IMAGE_MIB * 3);
  const zfs = new ZfsCli();
  const deps: BuildDeps = {
    zfs, mounter: (runtimeDir) => new LoopMounter({ runtimeDir }), sync: new RsyncTreeSync(), fsck: new E2fsck(),
    tools: new RealImageTools(), log: silentLogger(), now: () => Date.now(),
  };
  const levels = OPTS.xzLevels;
  const cells = new Map<number, OursCell[]>(PAIRS.map(([from]) => [from, []]));
  const variants: Variant[] = [];
  const rawOf: Record<number, string> = {};
  try {
    const plain = minbase([]);
    const withLess = minbase(['less']);
    // Versions: 1 minbase, 2 one package more, 3 an application added, 4 its next release.
    const trees = [tree(join(base, 't1'), plain, null), tree(join(base, 't2'), withLess, null), tree(join(base, 't3'), withLess, 1), tree(join(base, 't4'), withLess, 2)];
    // The bound first and each recordsize's figures on stderr as they come: a run cut short still leaves them.
    const bounds = new Map(PAIRS.map(([from, to]) => [from, lowerBound(trees[from - 1] as string, trees[to - 1] as string, join(base, `changed-${from}-${to}.tar.xz`))]));
    console.error(`bound (changed files, xz -6): ${JSON.stringify(Object.fromEntries(bounds))}`);
    // The rebuilt-from-scratch images do not depend on the recordsize: made once, written into each scratch dataset.
    const scratchImgs = trees.map((t, i) => {
      const img = join(base, `scratch-${i + 1}.img`);
      execFileSync('mkfs.ext4', ['-q', '-F', '-d', t, img, `${IMAGE_MIB}M`]);
      return img;
    });
    for (const [k, rs] of OPTS.recordsizes.entries()) {
      const ours = `${pool.name}/ours${showSize(rs)}`;
      const scratch = `${pool.name}/scratch${showSize(rs)}`;
      execFileSync('zfs', ['create', '-o', `recordsize=${rs}`, ours]);
      execFileSync('zfs', ['create', '-o', `recordsize=${rs}`, scratch]);
      const scratchMnt = (await zfs.mountpoint(scratch)) as string;
      const times: number[] = [];
      for (const [i, t] of trees.entries()) {
        const t0 = Date.now();
        await buildImage(deps, { dataset: ours, version: i + 1, tree: t, imageFile: 'root.img', workDir: join(base, 'work'), scrubFiles: [], ...(i === 0 ? { sizeMiB: IMAGE_MIB } : {}) });
        times.push((Date.now() - t0) / 1000);
        await copyChanged(scratchImgs[i] as string, join(scratchMnt, 'root.img'), undefined, chunkForRecordsize(rs));
        execFileSync('zfs', ['snapshot', `${scratch}@${i + 1}`]);
      }
      for (const [from, to] of PAIRS) {
        const o = await sendSizes(`${ours}@${from}`, `${ours}@${to}`, join(base, `ours-${from}-${to}.zfs`), levels);
        // The rebuilt image's stream is the whole image (hundreds of MiB): at the lowest level only, for time.
        const [s] = await sendSizes(`${scratch}@${from}`, `${scratch}@${to}`, join(base, `scratch-${from}-${to}.zfs`), [Math.min(...levels)]);
        levels.forEach((l, j) => cells.get(from)?.push({ recordsize: rs, xzLevel: l, oursXz: o[j] as number, scratchXz: l === Math.min(...levels) ? (s as number) : null }));
      }
      const fullLevel = Math.min(...levels);
      const [full] = await sendSizes(null, `${ours}@4`, join(base, 'ours-full-4.zfs'), [fullLevel]);
      variants.push({ recordsize: rs, buildSec: times, oursUsed: Number(await zfs.getProp(ours, 'used')), fullXz: full as number, fullXzLevel: fullLevel });
      // zstd reads the raw images of the first recordsize's builds (their bytes barely depend on it).
      if (k === 0 && !OPTS.skipZstd) {
        for (const v of [1, 2, 3, 4]) {
          const out = join(base, `ours-${v}.img`);
          await withSnapshotFile({ zfs, log: silentLogger() }, `${ours}@${v}`, `${ours}.copy${v}`, 'root.img', (p) => copyChanged(p, out).then(() => undefined));
          rawOf[v] = out;
        }
      }
      // zfs-fuse may still call a dataset busy just after its files were read (a 16K run died on it): retried.
      await zfsRetry('zfs', ['destroy', '-r', ours]);
      await zfsRetry('zfs', ['destroy', '-r', scratch]);
      console.error(`recordsize ${showSize(rs)} done after ${Math.round((Date.now() - started) / 1000)} s: ${JSON.stringify({ variant: variants.at(-1), cells: PAIRS.map(([from]) => cells.get(from)?.filter((c) => c.recordsize === rs)) })}`);
    }
    for (const s of scratchImgs) rmSync(s);
    const rows: PairRow[] = [];
    for (const [from, to, change] of PAIRS) {
      let zstdPatch: number | null = null;
      let zstdSec: number | null = null;
      if (!OPTS.skipZstd) {
        const zst = join(base, `patch-${from}-${to}.zst`);
        const z0 = Date.now();
        execFileSync('zstd', ['-q', '-f', '-19', '--long=31', `--patch-from=${rawOf[from]}`, rawOf[to] as string, '-o', zst]);
        zstdSec = (Date.now() - z0) / 1000;
        zstdPatch = statSync(zst).size;
      }
      rows.push({ change, from, to, zstdPatch, zstdSec, lowerBoundXz: bounds.get(from) as number, cells: cells.get(from) ?? [] });
    }
    const usedMiB = Number(execFileSync('du', ['-sm', trees[3] as string]).toString().split('\t')[0]);
    const result = {
      date: new Date().toISOString(), runSec: (Date.now() - started) / 1000, loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
      imageMiB: IMAGE_MIB, treeMiB: usedMiB, recordsizes: OPTS.recordsizes, xzLevels: levels, zstdFrom: OPTS.skipZstd ? null : OPTS.recordsizes[0], variants, rows,
    };
    writeFileSync(join(process.cwd(), '.cache/bench-download-size.json'), JSON.stringify(result, null, 2));
    console.log(JSON.stringify(result, null, 2));
    console.log(formatTable(rows));
    for (const v of variants) {
      console.log(`recordsize ${showSize(v.recordsize)}: image build ${v.buildSec.map((x) => x.toFixed(1)).join(', ')} s; ours used ${v.oursUsed.toLocaleString('en-US')} B; full stream @4 xz -${v.fullXzLevel} ${v.fullXz.toLocaleString('en-US')} B`);
    }
  } finally {
    for (const m of readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((t) => t.startsWith(`${base}/work`))) execFileSync('umount', [m]);
    await pool.destroy();
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
