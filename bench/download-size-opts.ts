// The download-size bench's settings (recordsizes, xz levels) from the environment, and its printed table.
import { chunkForRecordsize } from '../src/publish/build/block-copy.js';

export interface DownloadSizeOpts {
  imageMiB: number;
  /** Recordsizes of the "ours" and "scratch" datasets, in bytes, in run order; the first one's images feed zstd. */
  recordsizes: number[];
  /** xz levels for the `zfs send -i` streams. */
  xzLevels: number[];
  skipZstd: boolean;
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 * 1024 };

/** `4K`, `128K`, `1M` or plain bytes → bytes; a recordsize ZFS takes (a power of two from 512 B to 16 MiB). */
export function parseRecordsize(s: string): number {
  const m = /^(\d+)([KM]?)$/i.exec(s.trim());
  const bytes = m ? Number(m[1]) * (UNITS[(m[2] ?? '').toUpperCase()] as number) : Number.NaN;
  if (chunkForRecordsize(bytes) !== bytes) throw new Error(`BENCH_RECORDSIZE: ${JSON.stringify(s)} is not a recordsize (a power of two from 512 to 16M)`);
  return bytes;
}

/** 4096 → `4K`, 131072 → `128K`, 512 → `512`. */
export const showSize = (bytes: number): string =>
  bytes % (1024 * 1024) === 0 ? `${bytes / 1024 / 1024}M` : bytes % 1024 === 0 ? `${bytes / 1024}K` : String(bytes);

const list = <T>(v: string, parse: (s: string) => T): T[] => {
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean).map(parse);
  if (xs.length === 0) throw new Error(`empty list: ${JSON.stringify(v)}`);
  return xs;
};

const parseLevel = (s: string): number => {
  if (!/^\d$/.test(s)) throw new Error(`BENCH_XZ_LEVEL: ${JSON.stringify(s)} is not an xz level 0-9`);
  return Number(s);
};

/** BENCH_IMAGE_MIB (768), BENCH_RECORDSIZE (128K; a list runs each), BENCH_XZ_LEVEL (3; a list), BENCH_SKIP_ZSTD. */
export function downloadSizeOpts(env: NodeJS.ProcessEnv): DownloadSizeOpts {
  const imageMiB = Number(env['BENCH_IMAGE_MIB'] ?? 768);
  if (!Number.isInteger(imageMiB) || imageMiB < 64) throw new Error(`BENCH_IMAGE_MIB: ${env['BENCH_IMAGE_MIB']} is not a size of at least 64 MiB`);
  const recordsizes = list(env['BENCH_RECORDSIZE'] ?? '128K', parseRecordsize);
  if (new Set(recordsizes).size !== recordsizes.length) throw new Error('BENCH_RECORDSIZE: a recordsize is listed twice');
  return { imageMiB, recordsizes, xzLevels: [...new Set(list(env['BENCH_XZ_LEVEL'] ?? '3', parseLevel))], skipZstd: env['BENCH_SKIP_ZSTD'] === '1' };
}

export interface OursCell {
  recordsize: number;
  xzLevel: number;
  oursXz: number;
  /** At the lowest xz level only (null at the others). */
  scratchXz: number | null;
}

export interface PairRow {
  change: string;
  from: number;
  to: number;
  zstdPatch: number | null;
  zstdSec: number | null;
  lowerBoundXz: number;
  cells: OursCell[];
}

const n = (x: number | null): string => (x === null ? '–' : x.toLocaleString('en-US'));
const ratio = (a: number, b: number | null): string => (b === null || b === 0 ? '–' : (a / b).toFixed(2));

/** The markdown table of docs/benchmarks.md: one line per change, recordsize and xz level. */
export function formatTable(rows: PairRow[]): string {
  const out = [
    '| change | recordsize | xz | ours | scratch | zstd | bound | ours / zstd (goal ≤ 1.5) | ours / bound (goal ≤ 2) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    for (const c of r.cells) {
      out.push(`| ${r.change}, ${r.from} → ${r.to} | ${showSize(c.recordsize)} | -${c.xzLevel} | ${n(c.oursXz)} | ${n(c.scratchXz)} | ${n(r.zstdPatch)} | ${n(r.lowerBoundXz)} | ${ratio(c.oursXz, r.zstdPatch)} | ${ratio(c.oursXz, r.lowerBoundXz)} |`);
    }
  }
  return out.join('\n');
}
