// `npm run bench`: import and export throughput and peak RSS against shell baselines, one run, same inputs.
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { ensureZfsFuse, type TestPool } from '../src/sandbox/pools.js';
import { benchExport } from './export-case.js';
import { benchImport, type ImportRow } from './import-case.js';
import { renderText, writeJson, type BenchResults } from './report.js';
import { buildFixture } from './setup.js';
import { benchSwitch, renderSwitch } from './switch-case.js';
import { benchDownload, renderDownload } from './download-case.js';
import { benchIdle, renderIdle } from './idle-case.js';
import { benchWorkload, workloadConfig } from './workload-case.js';
import { renderWorkload } from './workload-report.js';
import { benchFleet, fleetConfig } from './fleet-sim-case.js';
import { renderFleet, type FleetRun } from './fleet-sim-report.js';

/** The bandwidth cap alone (BENCH_ONLY=download); also run at the end of the full bench. */
async function downloadOnly(): Promise<void> {
  const rows = await benchDownload();
  process.stdout.write(`download (${new Date().toISOString()}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}):\n${renderDownload(rows)}\n`);
  writeFileSync(RESULTS.replace('bench-results.json', 'bench-download.json'), JSON.stringify(rows, null, 2));
}

/** The idle daemon's RSS alone (BENCH_ONLY=idle); also run at the end of the full bench. */
async function idleOnly(): Promise<void> {
  const rows = await benchIdle();
  process.stdout.write(`${renderIdle(rows)}\n`);
  writeFileSync(RESULTS.replace('bench-results.json', 'bench-idle.json'), JSON.stringify(rows, null, 2));
}

/** The switch window alone (BENCH_ONLY=switch); also run at the end of the full bench. BENCH_ONLY=import: imports only. */
async function switchOnly(): Promise<void> {
  const rows = await benchSwitch(Number(process.env['BENCH_REPS'] ?? 3));
  process.stdout.write(`${renderSwitch(rows)}\n`);
  writeFileSync(RESULTS.replace('bench-results.json', 'bench-switch.json'), JSON.stringify(rows, null, 2));
}

/** The workload's side (BENCH_ONLY=workload): run on its own only, not part of the full bench (it wants the machine quiet). */
async function workloadOnly(): Promise<void> {
  const cfg = workloadConfig();
  await ensureZfsFuse();
  const t0 = performance.now();
  const workDir = mkdtempSync(join(tmpdir(), 'upgrade-bench-wl-'));
  const pools: TestPool[] = [];
  const onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`bench: ${sig}, cleaning up\n`);
    void cleanup(pools, workDir).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const progress = (msg: string): void => void process.stderr.write(`bench: ${msg} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
    const r = await benchWorkload(workDir, pools, cfg, progress);
    const m = await machine();
    process.stdout.write(`${m.cpus} × ${m.cpuModel}, ${m.memMiB} MiB RAM, Linux ${m.kernel}, node ${m.node}, ${m.xz}, zfs-fuse ${m.zfsFuse}\n`);
    process.stdout.write(`${renderWorkload(r)}\nwhole case ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
    mkdirSync(dirname(RESULTS), { recursive: true });
    writeFileSync(RESULTS.replace('bench-results.json', 'bench-workload.json'), JSON.stringify({ machine: m, ...r }, null, 2));
  } finally {
    await cleanup(pools, workDir);
  }
}

/** The fleet simulation (BENCH_ONLY=fleet): on its own only, SQLite then PostgreSQL (BENCH_FLEET_DB picks). */
async function fleetOnly(): Promise<void> {
  const cfg = fleetConfig();
  const t0 = performance.now();
  const progress = (msg: string): void => void process.stderr.write(`bench: ${msg} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
  const m = await machine();
  process.stdout.write(`${m.cpus} × ${m.cpuModel}, ${m.memMiB} MiB RAM, Linux ${m.kernel}, node ${m.node}\n`);
  const runs: FleetRun[] = [];
  for (const db of cfg.databases) {
    const r = await benchFleet(db, cfg, progress);
    runs.push(r);
    process.stdout.write(`${renderFleet(r)}\n\n`);
  }
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS.replace('bench-results.json', 'bench-fleet.json'), JSON.stringify({ machine: m, runs: runs.map((r) => ({ ...r, herdOkSec: undefined, herdOkCount: r.herdOkSec.length })) }, null, 2));
}

const RESULTS = fileURLToPath(new URL('../../.cache/bench-results.json', import.meta.url));

/** Overridable for quick trial runs, e.g. BENCH_DIFFS_MIB=4,8,16 BENCH_IMAGE_MIB=64. */
function config(): BenchResults['config'] {
  const diffsMiB = (process.env['BENCH_DIFFS_MIB'] ?? '16,64,192').split(',').map(Number);
  const imageMiB = Number(process.env['BENCH_IMAGE_MIB'] ?? 512);
  const reps = Number(process.env['BENCH_REPS'] ?? 3);
  if (diffsMiB.some((n) => !(n > 0)) || !(imageMiB > 0) || !(reps >= 1)) throw new Error('bad BENCH_* settings');
  return { diffsMiB, imageMiB, reps };
}

async function machine(): Promise<BenchResults['machine']> {
  const xz = await execa('xz', ['--version'], { reject: false });
  const dpkg = await execa('dpkg-query', ['-W', '-f', '${Version}', 'zfs-fuse'], { reject: false });
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memMiB: Math.round(totalmem() / 2 ** 20),
    kernel: release(),
    node: process.version,
    xz: xz.stdout.split('\n')[0] ?? 'xz',
    zfsFuse: dpkg.exitCode === 0 ? dpkg.stdout : 'unknown',
  };
}

async function cleanup(pools: TestPool[], workDir: string): Promise<void> {
  for (const pool of pools.splice(0)) {
    try {
      await pool.destroy();
    } catch (err) {
      process.stderr.write(`bench: could not destroy pool ${pool.name}: ${(err as Error).message}\n`);
    }
  }
  rmSync(workDir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  if (process.env['BENCH_ONLY'] === 'switch') return switchOnly();
  if (process.env['BENCH_ONLY'] === 'download') return downloadOnly();
  if (process.env['BENCH_ONLY'] === 'idle') return idleOnly();
  if (process.env['BENCH_ONLY'] === 'workload') return workloadOnly();
  if (process.env['BENCH_ONLY'] === 'fleet') return fleetOnly();
  const t0 = performance.now();
  const cfg = config();
  const startedAt = new Date().toISOString();
  const loadStart = loadavg();
  await ensureZfsFuse();
  const workDir = mkdtempSync(join(tmpdir(), 'upgrade-bench-'));
  const pools: TestPool[] = [];
  let cleaning: Promise<void> | null = null;
  const clean = (): Promise<void> => (cleaning ??= cleanup(pools, workDir));
  const onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`bench: ${sig}, cleaning up\n`);
    void clean().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const progress = (msg: string): void => void process.stderr.write(`bench: ${msg} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
    progress(`building fixtures in ${workDir}: image ${cfg.imageMiB} MiB, diffs ${cfg.diffsMiB.join('/')} MiB`);
    const fx = await buildFixture({ workDir, diffsMiB: cfg.diffsMiB, imageMiB: cfg.imageMiB, pools });
    const imports: ImportRow[] = [];
    for (const [i, d] of fx.diffs.entries()) {
      progress(`import ${d.diffMiB} MiB diff (${d.from}→${d.to})`);
      imports.push(await benchImport(fx, d, i, cfg.reps));
    }
    const importOnly = process.env['BENCH_ONLY'] === 'import';
    if (!importOnly) progress(`export of version ${fx.image.version}`);
    const exp = importOnly ? null : await benchExport(fx, workDir, cfg.reps);
    const results: BenchResults = {
      startedAt,
      machine: await machine(),
      config: cfg,
      loadAvg: { start: loadStart, end: loadavg() },
      setupSec: fx.setupSec,
      import: imports,
      export: exp,
      totalSec: (performance.now() - t0) / 1000,
    };
    process.stdout.write(`${renderText(results)}\n`);
    writeJson(RESULTS, results);
    process.stdout.write(`results written to ${RESULTS}\n`);
  } finally {
    await clean();
  }
  if (process.env['BENCH_ONLY'] === 'import') return;
  progressSwitch();
  await switchOnly();
  await downloadOnly();
  await idleOnly();
}

function progressSwitch(): void {
  process.stderr.write('bench: switch window on a 1 GiB image\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
