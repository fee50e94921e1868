// Child process for one timed importStream (or exportImage) call: prints its seconds and peak RSS (KiB) as JSON.
import { performance } from 'node:perf_hooks';
import { ZfsCli, type Zfs } from '../src/adapters/zfs.js';
import { silentLogger } from '../src/log.js';
import { exportImage, type ExportOptions } from '../src/steps/export.js';
import { importStream, type ImportOptions } from '../src/steps/import.js';
import { XzCli } from '../src/adapters/decompress.js';

export type ChildArgs = { op: 'import'; opts: ImportOptions } | { op: 'export'; opts: ExportOptions };

export interface ChildReport {
  result: string;
  /** Seconds spent inside importStream/exportImage (node start-up and module loading excluded). */
  sec: number;
  /** ru_maxrss before the call (the node floor) and after it (the peak), KiB. */
  startRSSKiB: number;
  maxRSSKiB: number;
  /** Time inside Zfs adapter calls: recv (the xz | zfs recv pipeline) and everything else (overlaps counted once). */
  zfs: { calls: number; controlSec: number; recvSec: number };
}

type Interval = { method: string; start: number; end: number };

/** Wraps every async method of `inner` to record when it ran. */
function recording(inner: Zfs, log: Interval[]): Zfs {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        const start = performance.now();
        const out: unknown = value.apply(target, args);
        if (!(out instanceof Promise)) return out;
        return out.finally(() => log.push({ method: String(prop), start, end: performance.now() }));
      };
    },
  });
}

/** Seconds covered by the union of the intervals. */
function covered(intervals: Interval[]): number {
  let total = 0;
  let reach = -Infinity;
  for (const { start, end } of [...intervals].sort((a, b) => a.start - b.start)) {
    if (end > reach) total += end - Math.max(start, reach);
    reach = Math.max(reach, end);
  }
  return total / 1000;
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (!raw) throw new Error('usage: node dist/bench/import-child.js <json ChildArgs>');
  const args = JSON.parse(raw) as ChildArgs;
  const calls: Interval[] = [];
  const deps = { zfs: recording(new ZfsCli({ busyTimeoutSec: 60 }), calls), log: silentLogger(), decompressor: new XzCli() };
  const startRSSKiB = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  const result = args.op === 'import' ? await importStream(deps, args.opts) : await exportImage(deps, args.opts);
  const sec = (performance.now() - t0) / 1000;
  const zfs = {
    calls: calls.length,
    controlSec: covered(calls.filter((c) => c.method !== 'recv')),
    recvSec: covered(calls.filter((c) => c.method === 'recv')),
  };
  const report: ChildReport = { result, sec, startRSSKiB, maxRSSKiB: process.resourceUsage().maxRSS, zfs };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
