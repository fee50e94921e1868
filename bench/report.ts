// Renders the benchmark results as text tables for stdout and writes them as JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ExportRow } from './export-case.js';
import type { ImportRow } from './import-case.js';
import { MiB } from './setup.js';

export interface BenchResults {
  startedAt: string;
  machine: { cpus: number; cpuModel: string; memMiB: number; kernel: string; node: string; xz: string; zfsFuse: string };
  config: { diffsMiB: number[]; imageMiB: number; reps: number };
  loadAvg: { start: number[]; end: number[] };
  setupSec: Record<string, number>;
  import: ImportRow[];
  /** null with BENCH_ONLY=import. */
  export: ExportRow | null;
  totalSec: number;
}

const f = (n: number, digits = 2): string => n.toFixed(digits);
const mib = (bytes: number, digits = 1): string => f(bytes / MiB, digits);
const kibToMiB = (kib: number | null): string => (kib === null ? 'n/a' : f(kib / 1024, 1));

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function renderText(r: BenchResults): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`upgrade-agent benchmark, ${r.startedAt}`);
  out.push(`${m.cpus} × ${m.cpuModel}, ${m.memMiB} MiB RAM, Linux ${m.kernel}, node ${m.node}, ${m.xz}, zfs-fuse ${m.zfsFuse}`);
  out.push(`image ${r.config.imageMiB} MiB ext4, diffs ${r.config.diffsMiB.join('/')} MiB incompressible, best of ${r.config.reps} runs`);
  out.push(`load average at start ${r.loadAvg.start.map((x) => f(x)).join(' ')}, at end ${r.loadAvg.end.map((x) => f(x)).join(' ')}`);
  out.push('');
  out.push('Import: `xz -dc F | zfs recv` (baseline) vs importStream (ours, in a child node process). ratio = baseline s / ours s, goal ≥ 0.95');
  out.push(
    table(
      ['diff MiB', 'xz MiB', 'stream MiB', 'base s', 'ours s', 'base MiB/s xz/stream', 'ours MiB/s xz/stream', 'ratio', 'ours = recv + zfs ctl + rest s', 'zfs calls', 'whole-file s (ratio)', 'verify pass s', 'node RSS MiB start/peak', 'base xz+zfs MiB'],
      r.import.map((row) => [
        String(row.diffMiB),
        mib(row.compressedBytes),
        mib(row.streamBytes),
        f(row.baseline.bestSec),
        f(row.ours.bestSec),
        `${f(row.throughput.baselineXz, 1)} / ${f(row.throughput.baselineStream, 1)}`,
        `${f(row.throughput.oursXz, 1)} / ${f(row.throughput.oursStream, 1)}`,
        f(row.ratio),
        `${f(row.ours.split.recvSec)} + ${f(row.ours.split.zfsControlSec)} + ${f(row.ours.split.restSec)}`,
        String(row.ours.split.zfsCalls),
        `${f(row.oursWholeFile.bestSec)} (${f(row.baseline.bestSec / row.oursWholeFile.bestSec)})`,
        f(row.verifyPassSec),
        `${kibToMiB(row.ours.startRSSKiB)} / ${kibToMiB(row.ours.maxRSSKiB)}`,
        kibToMiB(row.baseline.peakKiB),
      ]),
    ),
  );
  out.push('  runs (s): ' + r.import.map((row) => `${row.diffMiB} MiB base [${row.baseline.runsSec.map((x) => f(x)).join(', ')}] ours [${row.ours.runsSec.map((x) => f(x)).join(', ')}] whole-file [${row.oursWholeFile.runsSec.map((x) => f(x)).join(', ')}]`).join('; '));
  out.push('  ours = with the signed chunk list (each chunk hashed on its way to xz); whole-file = a manifest without it (sha256 pass first)');
  out.push('  ours split (fastest run): recv = xz | zfs recv with the chunk feed, as importStream drives it; zfs ctl = its other zfs CLI calls; rest = outside zfs');
  out.push('  verify pass s = one sha256OfFd over the send file alone, page cache warm; base xz+zfs = sampled VmHWM sum of the baseline pipeline');
  out.push('');
  const e = r.export;
  if (e === null) {
    out.push(`setup (s): ${Object.entries(r.setupSec).map(([k, v]) => `${k} ${f(v, 1)}`).join(', ')}; whole run ${f(r.totalSec, 1)} s`);
    return out.join('\n');
  }
  const b = e.baseline.best;
  out.push('Export: read-only clone + `cp --sparse=always` + destroy (baseline) vs exportImage (ours: clone, sparse copy + sha256, fsync, destroy). ratio = baseline s / ours s, goal ≥ 1.0');
  out.push(
    table(
      ['image MiB', 'allocated MiB base/ours', 'base s (clone+cp+destroy)', 'base cp s', 'base fsync s', 'ours s', 'base MiB/s', 'ours MiB/s', 'ratio', 'ratio +fsync', 'ratio cp only', 'ours = zfs ctl + copy s', 'node RSS MiB start/peak'],
      [
        [
          mib(e.imageBytes),
          `${mib(e.allocatedBytes.baseline)} / ${mib(e.allocatedBytes.ours)}`,
          `${f(b.totalSec)} (${f(b.cloneSec)}+${f(b.cpSec)}+${f(b.destroySec)})`,
          f(b.cpSec),
          f(b.fsyncSec),
          f(e.ours.bestSec),
          f(e.imageBytes / MiB / b.totalSec, 1),
          f(e.imageBytes / MiB / e.ours.bestSec, 1),
          f(e.ratio),
          f(e.ratioWithFsync),
          f(e.ratioCpOnly),
          `${f(e.ours.split.zfsControlSec)} + ${f(e.ours.split.restSec)}`,
          `${kibToMiB(e.ours.startRSSKiB)} / ${kibToMiB(e.ours.maxRSSKiB)}`,
        ],
      ],
    ),
  );
  const g = e.diagnostics;
  out.push(`  separate passes, each on a fresh clone: cat > /dev/null ${f(g.readPassSec)} s, sha256OfFd (read + hash) ${f(g.readHashPassSec)} s; sha256 in memory ${f(g.hashOnlySec)} s`);
  out.push(`  runs (s): base [${e.baseline.runs.map((x) => f(x.totalSec)).join(', ')}] ours [${e.ours.runsSec.map((x) => f(x)).join(', ')}]`);
  out.push('');
  out.push(`setup (s): ${Object.entries(r.setupSec).map(([k, v]) => `${k} ${f(v, 1)}`).join(', ')}; whole run ${f(r.totalSec, 1)} s`);
  return out.join('\n');
}

export function writeJson(path: string, r: BenchResults): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(r, null, 2)}\n`);
}
