// Benchmark fixtures: a publisher image with one big-diff version per size, xz send files, a device pool seeded twice.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { ZfsCli } from '../src/adapters/zfs.js';
import { silentLogger } from '../src/log.js';
import { settleDataset } from '../src/steps/full-swap.js';
import { buildImageVersions, createPool, makeSendFile, type TestPool } from '../src/sandbox/pools.js';

export const MiB = 1024 * 1024;

export interface SendFile {
  path: string;
  /** Compressed bytes on disk (what the manifest signs). */
  size: number;
  sha256: string;
  /** Bytes of the raw `zfs send` stream (xz's uncompressed size). */
  streamBytes: number;
}

export interface DiffCase {
  diffMiB: number;
  from: number;
  to: number;
  send: SendFile;
}

export interface Fixture {
  dev: TestPool;
  /** Device datasets, both seeded with the full stream @1: `a` for the baseline, `b` for ours. */
  baseDs: string;
  oursDs: string;
  diffs: DiffCase[];
  /** The newest image version (base + every diff), as exportImage must reproduce it. */
  image: { file: string; version: number; size: number; sha256: string };
  /** Setup phases in seconds (not part of any comparison). */
  setupSec: Record<string, number>;
}

export interface FixtureOptions {
  workDir: string;
  diffsMiB: number[];
  imageMiB: number;
  /** Every pool created is pushed here at once, so the caller's finally can destroy it whatever fails later. */
  pools: TestPool[];
}

const FAKE_TIME = { E2FSPROGS_FAKE_TIME: '1700000000' };

/** Writes `bytes` of deterministic, incompressible bytes (AES-128-CTR keystream of a seed) to `path`. */
async function writeBlob(path: string, seed: string, bytes: number): Promise<void> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zero = Buffer.alloc(MiB);
  const out = createWriteStream(path);
  for (let left = bytes; left > 0; left -= MiB) {
    if (!out.write(cipher.update(zero.subarray(0, Math.min(MiB, left))))) await once(out, 'drain');
  }
  out.end();
  await finished(out);
}

export async function sha256Stream(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: MiB }), hash);
  return hash.digest('hex');
}

/** Uncompressed size of an .xz file, from `xz --robot --list`. */
async function xzUncompressedSize(path: string): Promise<number> {
  const { stdout } = await execa('xz', ['--robot', '--list', path]);
  const totals = stdout.split('\n').find((l) => l.startsWith('totals\t'));
  const n = Number(totals?.split('\t')[4]);
  if (!Number.isSafeInteger(n)) throw new Error(`cannot read the uncompressed size of ${path}: ${stdout}`);
  return n;
}

async function sendFile(from: string | null, snapshot: string, path: string): Promise<SendFile> {
  const { size, sha256 } = await makeSendFile(from, snapshot, path, 'xz');
  return { path, size, sha256, streamBytes: await xzUncompressedSize(path) };
}

/** Runs `jobs` with at most `limit` at a time (xz -T1 per send file; two cores). */
async function limited<T>(limit: number, jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array<T>(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await (jobs[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return out;
}

async function timed<T>(sec: Record<string, number>, name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    sec[name] = (performance.now() - t0) / 1000;
  }
}

/** `sh -c 'xz -dc FILE | zfs recv TARGET'`; throws with stderr on failure. */
export async function shRecv(file: string, target: string): Promise<void> {
  await execa('sh', ['-c', 'xz -dc "$1" | zfs recv "$2"', 'sh', file, target], { env: { LC_ALL: 'C' } });
}

export async function buildFixture(opts: FixtureOptions): Promise<Fixture> {
  const setupSec: Record<string, number> = {};
  const zfs = new ZfsCli({ busyTimeoutSec: 60, log: silentLogger() });
  const totalMiB = opts.diffsMiB.reduce((a, b) => a + b, 0);
  if (totalMiB + 32 > opts.imageMiB) throw new Error(`image of ${opts.imageMiB} MiB cannot hold ${totalMiB} MiB of diffs`);

  // Publisher: ext4 image v1, then each version writes one more incompressible file into it (debugfs).
  const pubPoolMiB = Math.max(1024, 2 * opts.imageMiB + totalMiB + 512);
  const pub = await createPool(opts.workDir, 'bpub', pubPoolMiB);
  opts.pools.push(pub);
  const published = await timed(setupSec, 'publisherBase', () =>
    buildImageVersions(pub, { workDir: opts.workDir, count: 1, sizeMiB: opts.imageMiB }),
  );
  const versions: { diffMiB: number; from: number; to: number }[] = [];
  await timed(setupSec, 'publisherVersions', async () => {
    for (const [i, diffMiB] of opts.diffsMiB.entries()) {
      const to = i + 2;
      const blob = join(opts.workDir, `blob-${to}.bin`);
      await writeBlob(blob, `bench-diff-${to}`, diffMiB * MiB);
      await execa('debugfs', ['-w', '-R', `write ${blob} /diff-${to}.bin`, published.imagePath], { env: FAKE_TIME });
      rmSync(blob, { force: true });
      await execa('zfs', ['snapshot', `${published.dataset}@${to}`]);
      versions.push({ diffMiB, from: to - 1, to });
    }
  });
  const last = versions.at(-1)?.to ?? 1;
  const image = await timed(setupSec, 'imageSha256', async () => {
    // The head equals the newest snapshot: nothing wrote to it after `zfs snapshot`.
    const { size } = statSync(published.imagePath);
    return { file: 'root.img', version: last, size, sha256: await sha256Stream(published.imagePath) };
  });

  // Send files: the small full stream @1, then one xz incremental per diff, two xz processes at a time.
  const full = await timed(setupSec, 'sendFull', () => sendFile(null, `${published.dataset}@1`, join(opts.workDir, 'full-1.zfs.xz')));
  const sends = await timed(setupSec, 'sendIncrementals', () =>
    limited(
      2,
      versions.map((v) => () => sendFile(`${published.dataset}@${v.from}`, `${published.dataset}@${v.to}`, join(opts.workDir, `diff-${v.from}-${v.to}.zfs.xz`))),
    ),
  );
  // The publisher is not needed any more: free its ARC and vdev before measuring.
  await timed(setupSec, 'publisherDestroy', async () => {
    await pub.destroy();
    opts.pools.splice(opts.pools.indexOf(pub), 1);
  });

  // Device: two datasets at @1, settled the way importStream leaves a dataset (unmounted, readonly, atime off).
  const devPoolMiB = Math.max(1024, 2 * (opts.imageMiB + totalMiB) + 1024);
  const dev = await createPool(opts.workDir, 'bdev', devPoolMiB);
  opts.pools.push(dev);
  const baseDs = `${dev.name}/a`;
  const oursDs = `${dev.name}/b`;
  await timed(setupSec, 'deviceSeed', async () => {
    for (const ds of [baseDs, oursDs]) {
      await shRecv(full.path, `${ds}@1`);
      await settleDataset(zfs, ds);
    }
  });
  const diffs = versions.map((v, i) => ({ ...v, send: sends[i] as SendFile }));
  return { dev, baseDs, oursDs, diffs, image, setupSec };
}
