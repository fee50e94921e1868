// Export comparison: read-only clone + `cp --sparse=always` + destroy (baseline) vs exportImage in a child (ours).
import { createHash } from 'node:crypto';
import { closeSync, openSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { ZfsCli } from '../src/adapters/zfs.js';
import { silentLogger } from '../src/log.js';
import { imagePath } from '../src/steps/export.js';
import { sha256OfFd } from '../src/util/sha256.js';
import { PAUSE_MS, min, oursStats, runChild, timeIt, type ChildRun, type OursStats } from './measure.js';
import { MiB, sha256Stream, type Fixture } from './setup.js';

export interface ExportRun {
  cloneSec: number;
  cpSec: number;
  fsyncSec: number;
  destroySec: number;
  totalSec: number;
}

export interface ExportRow {
  imageBytes: number;
  allocatedBytes: { ours: number; baseline: number };
  ours: OursStats;
  baseline: { runs: ExportRun[]; best: ExportRun };
  /** Separate passes, each on a fresh clone: `cat > /dev/null` (FUSE read), sha256OfFd (read + hash); sha256 in memory. */
  diagnostics: { readPassSec: number; readHashPassSec: number; hashOnlySec: number };
  /** Baseline seconds / ours seconds: clone+cp+destroy, the same plus fsync, and cp alone. Goal ≥ 1.0. */
  ratio: number;
  ratioWithFsync: number;
  ratioCpOnly: number;
}

const zfs = new ZfsCli({ busyTimeoutSec: 60, log: silentLogger() });

/** The baseline export: read-only clone, `cp --sparse=always`, fsync of the copy (timed apart), destroy. */
async function baselineExport(fx: Fixture, dst: string, check: boolean): Promise<{ run: ExportRun; allocated: number }> {
  const clone = `${fx.oursDs}.bench-cp`;
  const snap = `${fx.oursDs}@${fx.image.version}`;
  const c = await timeIt(async () => {
    await zfs.clone(snap, clone, { readonly: 'on' });
    let mp = await zfs.mountpoint(clone);
    if (mp === null) {
      await zfs.mount(clone);
      mp = await zfs.mountpoint(clone);
    }
    if (mp === null) throw new Error(`${clone} has no mountpoint`);
    return mp;
  });
  let copied: { cpSec: number; fsyncSec: number } | undefined;
  let copyError: unknown;
  try {
    const cp = await timeIt(() => execa('cp', ['--sparse=always', join(c.value, fx.image.file), dst]));
    const fsync = await timeIt(() => execa('sync', [dst]));
    copied = { cpSec: cp.sec, fsyncSec: fsync.sec };
  } catch (err) {
    copyError = err;
  }
  // Always; zfs-fuse calls the clone busy for a while after reads, and the adapter retries.
  const destroy = await timeIt(() => zfs.destroy(clone));
  if (!copied) throw copyError;
  const st = statSync(dst);
  if (check && (st.size !== fx.image.size || (await sha256Stream(dst)) !== fx.image.sha256)) throw new Error(`baseline copy ${dst} differs from the image`);
  rmSync(dst, { force: true });
  const run = { cloneSec: c.sec, ...copied, destroySec: destroy.sec, totalSec: c.sec + copied.cpSec + destroy.sec };
  return { run, allocated: st.blocks * 512 };
}

/** Runs `fn` on the image file of a fresh read-only clone of the exported snapshot (cold FUSE page cache). */
async function onFreshClone<T>(fx: Fixture, fn: (src: string) => Promise<T>): Promise<T> {
  const clone = `${fx.oursDs}.bench-read`;
  await zfs.clone(`${fx.oursDs}@${fx.image.version}`, clone, { readonly: 'on' });
  try {
    await zfs.mount(clone);
    const mp = await zfs.mountpoint(clone);
    if (mp === null) throw new Error(`${clone} has no mountpoint`);
    return await fn(join(mp, fx.image.file));
  } finally {
    await zfs.destroy(clone);
  }
}

/** After the timed runs, each on its own fresh clone: the FUSE read alone, and read + sha256 as node does it. */
async function readPasses(fx: Fixture): Promise<ExportRow['diagnostics']> {
  const read = await onFreshClone(fx, (src) => timeIt(() => execa('sh', ['-c', 'cat "$1" > /dev/null', 'sh', src])));
  const hashed = await onFreshClone(fx, async (src) => {
    const fd = openSync(src, 'r');
    try {
      return await timeIt(() => sha256OfFd(fd, fx.image.size));
    } finally {
      closeSync(fd);
    }
  });
  if (hashed.value.sha256 !== fx.image.sha256) throw new Error('the clone does not hash to the image sha256');
  // sha256 alone, in memory, over as many bytes as the image has.
  const chunk = Buffer.alloc(MiB, 0xa5);
  const hashOnly = await timeIt(async () => {
    const h = createHash('sha256');
    for (let left = fx.image.size; left > 0; left -= MiB) h.update(left >= MiB ? chunk : chunk.subarray(0, left));
    return h.digest('hex');
  });
  return { readPassSec: read.sec, readHashPassSec: hashed.sec, hashOnlySec: hashOnly.sec };
}

export async function benchExport(fx: Fixture, workDir: string, reps: number): Promise<ExportRow> {
  const imagesDir = join(workDir, 'images-ours');
  const baseDst = join(workDir, 'baseline.img');
  const pool = fx.dev.name;
  const opts = {
    pool,
    dataset: fx.oursDs.slice(pool.length + 1),
    layout: 'file' as const,
    imageFile: fx.image.file,
    version: fx.image.version,
    imagesDir,
    size: fx.image.size,
    sha256: fx.image.sha256,
    reserveBytes: 0,
  };
  const ourRuns: ChildRun[] = [];
  const baseRuns: ExportRun[] = [];
  const allocated = { ours: 0, baseline: 0 };
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? (['baseline', 'ours'] as const) : (['ours', 'baseline'] as const);
    for (const who of order) {
      await sleep(PAUSE_MS);
      if (who === 'baseline') {
        const b = await baselineExport(fx, baseDst, rep === 0);
        baseRuns.push(b.run);
        allocated.baseline = b.allocated;
      } else {
        const r = await runChild({ op: 'export', opts });
        if (r.result !== 'exported') throw new Error(`export: expected 'exported', got '${r.result}'`);
        ourRuns.push(r);
        const out = imagePath(imagesDir, fx.image.version);
        allocated.ours = statSync(out).blocks * 512;
        rmSync(out, { force: true });
      }
    }
  }
  const best = baseRuns.reduce((a, b) => (b.totalSec < a.totalSec ? b : a));
  const bestWithFsync = min(baseRuns.map((r) => r.totalSec + r.fsyncSec));
  const bestCp = min(baseRuns.map((r) => r.cpSec));
  const ours = oursStats(ourRuns);
  const ourBest = ours.bestSec;
  return {
    imageBytes: fx.image.size,
    allocatedBytes: allocated,
    ours,
    baseline: { runs: baseRuns, best },
    diagnostics: await readPasses(fx),
    ratio: best.totalSec / ourBest,
    ratioWithFsync: bestWithFsync / ourBest,
    ratioCpOnly: bestCp / ourBest,
  };
}
