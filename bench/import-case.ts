// Import comparison per diff size: `xz -dc F | zfs recv` (baseline) vs importStream in a child node process (ours).
import { closeSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { chunkList } from '../src/publish/chunk-list.js';
import { zfsRetry } from '../src/sandbox/pools.js';
import { sha256OfFd } from '../src/util/sha256.js';
import { PAUSE_MS, max, min, oursStats, runChild, timeIt, timeShell, type ChildRun, type OursStats, type ShellRun } from './measure.js';
import { MiB, type DiffCase, type Fixture } from './setup.js';

export interface ImportRow {
  diffMiB: number;
  compressedBytes: number;
  streamBytes: number;
  baseline: { runsSec: number[]; bestSec: number; peakKiB: number | null; perProcessKiB: Record<string, number> };
  /** importStream with the signed chunk list publish writes (each chunk checked on its way to xz). */
  ours: OursStats;
  /** importStream without a chunk list (older manifests): the whole file hashed first, then fd → xz. */
  oursWholeFile: OursStats;
  /** MiB per second of the compressed file and of the raw stream, best runs. */
  throughput: { baselineXz: number; oursXz: number; baselineStream: number; oursStream: number };
  /** baseline best seconds / ours best seconds (= our throughput / baseline throughput). */
  ratio: number;
  /** One sha256OfFd pass over the send file, as openVerified does before recv (page cache warm). */
  verifyPassSec: number;
}

/** Back to `@from`: the snapshot goes and the head is rolled back (destroying @to leaves its data in the head). */
async function undo(ds: string, from: number, to: number): Promise<void> {
  await zfsRetry('zfs', ['destroy', `${ds}@${to}`], 60_000);
  await zfsRetry('zfs', ['rollback', `${ds}@${from}`], 60_000);
}

export async function benchImport(fx: Fixture, d: DiffCase, index: number, reps: number): Promise<ImportRow> {
  const { send, from, to } = d;
  const pool = fx.dev.name;
  const baseRuns: ShellRun[] = [];
  const ourRuns: ChildRun[] = [];
  const wholeRuns: ChildRun[] = [];
  const wholeOpts = {
    streamPath: send.path,
    size: send.size,
    sha256: send.sha256,
    compression: 'xz' as const,
    pool,
    dataset: fx.oursDs.slice(pool.length + 1),
    fromVersion: from,
    toVersion: to,
    busyTimeoutSec: 60,
  };
  // What publish signs (outside the timing: the publisher's work).
  const opts = { ...wholeOpts, chunks: await chunkList(send.path) };
  let oursHasTo = false;
  for (let rep = 0; rep < reps; rep++) {
    // Rotate who goes first, between sizes and between repetitions, so none always gets the warmer cache.
    const whos = ['baseline', 'ours', 'whole'] as const;
    const order = whos.map((_, k) => whos[(index + rep + k) % whos.length]!);
    for (const who of order) {
      await sleep(PAUSE_MS);
      if (who === 'baseline') {
        baseRuns.push(await timeShell('xz -dc "$1" | zfs recv "$2"', [send.path, `${fx.baseDs}@${to}`]));
      } else {
        // Both variants go into the same dataset: back to @from first (outside the timing).
        if (oursHasTo) await undo(fx.oursDs, from, to);
        const r = await runChild({ op: 'import', opts: who === 'ours' ? opts : wholeOpts });
        if (r.result !== 'received') throw new Error(`import ${from}→${to}: expected 'received', got '${r.result}'`);
        (who === 'ours' ? ourRuns : wholeRuns).push(r);
        oursHasTo = true;
      }
    }
    if (rep < reps - 1) await undo(fx.baseDs, from, to);
  }

  // One pass at a time (two cores): the better of two.
  const verifyRuns: number[] = [];
  for (let i = 0; i < 2; i++) {
    const fd = openSync(send.path, 'r');
    try {
      verifyRuns.push((await timeIt(() => sha256OfFd(fd, send.size + 1))).sec);
    } finally {
      closeSync(fd);
    }
  }
  const verifyPassSec = min(verifyRuns);

  const baseBest = min(baseRuns.map((r) => r.sec));
  const ours = oursStats(ourRuns);
  const ourBest = ours.bestSec;
  const peaks = baseRuns.map((r) => r.peakKiB).filter((p): p is number => p !== null);
  const perProcessKiB: Record<string, number> = {};
  for (const r of baseRuns) for (const [k, v] of Object.entries(r.perProcessKiB)) perProcessKiB[k] = Math.max(perProcessKiB[k] ?? 0, v);
  return {
    diffMiB: d.diffMiB,
    compressedBytes: send.size,
    streamBytes: send.streamBytes,
    baseline: { runsSec: baseRuns.map((r) => r.sec), bestSec: baseBest, peakKiB: peaks.length ? max(peaks) : null, perProcessKiB },
    ours,
    oursWholeFile: oursStats(wholeRuns),
    throughput: {
      baselineXz: send.size / MiB / baseBest,
      oursXz: send.size / MiB / ourBest,
      baselineStream: send.streamBytes / MiB / baseBest,
      oursStream: send.streamBytes / MiB / ourBest,
    },
    ratio: baseBest / ourBest,
    verifyPassSec,
  };
}
