// The workload's side (BENCH_ONLY=workload): a CPU + disk workload alone, then while the agent prefetches and imports a diff.
import { randomFillSync } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, openSync, writeSync, fsyncSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFleetServer } from '../src/fleet/server.js';
import { chunkList } from '../src/publish/chunk-list.js';
import { zfsRetry, type TestPool } from '../src/sandbox/pools.js';
import { makeThrowawayCa } from '../src/sandbox/tls.js';
import type { PrefetchArgs } from './prefetch-child.js';
import { buildFixture, MiB } from './setup.js';
import { checkCgroupV1, makeAgentCgroups, removeAgentCgroups, runAgent, startWorkload, workloadRates, zfsFuseCpuSec, type AgentRun, type Priorities } from './workload-procs.js';
import { pairedRatios, spread, type Spread } from './workload-stats.js';

export interface WorkloadConfig { diffMiB: number; reps: number; aloneSec: number; cpuWorkers: number; readFileMiB: number }

/** An agent run with the CPU seconds spent meanwhile by the zfs-fuse daemon and by this process (the download's server). */
export type MeasuredRun = AgentRun & { zfsFuseCpuSec: number | null; serverCpuSec: number };

/** One repetition: rates in bytes/s, agent runs with the zfs-fuse daemon's and the server's CPU seconds over each. */
export interface WorkloadRep {
  load1: number[];
  /** The mean of the alone runs just before and just after this repetition (the after one is the next rep's before). */
  alone: { cpu: number; disk: number };
  aloneRuns: { cpu: number; disk: number }[];
  agentAlone: MeasuredRun;
  low: { cpu: number; disk: number; agent: MeasuredRun };
  normal: { cpu: number; disk: number; agent: MeasuredRun };
}

export interface WorkloadResults {
  startedAt: string;
  config: WorkloadConfig & { compressedBytes: number; streamBytes: number };
  priorities: Priorities;
  loadAvg: { start: number[]; end: number[] };
  reps: WorkloadRep[];
  summary: Record<'low' | 'normal', { cpuRatio: Spread; diskRatio: Spread; prefetchSlowdown: Spread; zfsFuseShare: Spread }> & { agentAloneSec: Spread };
}

export function workloadConfig(env: NodeJS.ProcessEnv = process.env): WorkloadConfig {
  const c = {
    diffMiB: Number(env['BENCH_WORKLOAD_DIFF_MIB'] ?? 128),
    reps: Number(env['BENCH_REPS'] ?? 3),
    aloneSec: Number(env['BENCH_WORKLOAD_ALONE_SEC'] ?? 10),
    cpuWorkers: Number(env['BENCH_WORKLOAD_CPU_WORKERS'] ?? cpus().length),
    readFileMiB: 512,
  };
  if (!(c.diffMiB > 0) || !(c.reps >= 1) || !(c.aloneSec > 0) || !(c.cpuWorkers >= 0)) throw new Error('bad BENCH_WORKLOAD_* settings');
  return c;
}

/** A file of random bytes for the O_DIRECT reader, fsynced (dd iflag=direct reads it from the disk, never the page cache). */
function writeReadFile(path: string, mib: number): void {
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(MiB);
  for (let i = 0; i < mib; i++) writeSync(fd, randomFillSync(buf));
  fsyncSync(fd);
  closeSync(fd);
}

export async function benchWorkload(workDir: string, pools: TestPool[], cfg: WorkloadConfig, progress: (m: string) => void): Promise<WorkloadResults> {
  checkCgroupV1();
  const startedAt = new Date().toISOString();
  const loadStart = loadavg();
  progress(`fixture: ${cfg.diffMiB} MiB xz diff, ${cfg.readFileMiB} MiB read file`);
  const fx = await buildFixture({ workDir, diffsMiB: [cfg.diffMiB], imageMiB: Math.max(512, cfg.diffMiB + 128), pools });
  const d = fx.diffs[0]!;
  const readFile = join(workDir, 'workload-read.bin');
  writeReadFile(readFile, cfg.readFileMiB);
  mkdirSync(join(workDir, 'ca'));
  mkdirSync(join(workDir, 'www'));
  mkdirSync(join(workDir, 'downloads'));
  linkSync(d.send.path, join(workDir, 'www', 'diff.zfs.xz'));
  const ca = await makeThrowawayCa(join(workDir, 'ca'));
  const server = await startFleetServer({ root: join(workDir, 'www'), tls: { key: ca.key, cert: ca.cert }, host: '127.0.0.1', port: 0 });
  const args: PrefetchArgs = {
    url: `${server.url}/diff.zfs.xz`, caFile: ca.caFile, size: d.send.size, sha256: d.send.sha256, chunks: await chunkList(d.send.path),
    downloadsDir: join(workDir, 'downloads'), pool: fx.dev.name, dataset: fx.oursDs.slice(fx.dev.name.length + 1), from: d.from, to: d.to,
  };
  const prio = makeAgentCgroups(`uawl-agent-${process.pid}`, workDir);
  const undo = async (): Promise<void> => {
    await zfsRetry('zfs', ['destroy', `${fx.oursDs}@${d.to}`], 60_000);
    await zfsRetry('zfs', ['rollback', `${fx.oursDs}@${d.from}`], 60_000);
  };
  /** One prefetch + import; the caller undoes it (after stopping the workload, so the undo is outside its window). */
  const agent = async (low: Priorities | null): Promise<MeasuredRun> => {
    const z0 = await zfsFuseCpuSec();
    // This process serves the download (TLS and file reads, at nice 0 in the root cgroup): a device's server is elsewhere.
    const s0 = process.cpuUsage();
    const run = await runAgent(args, low, 300);
    const s = process.cpuUsage(s0);
    const z1 = await zfsFuseCpuSec();
    return { ...run, zfsFuseCpuSec: z0 === null || z1 === null ? null : z1 - z0, serverCpuSec: (s.user + s.system) / 1e6 };
  };
  const contended = async (low: Priorities | null): Promise<WorkloadRep['low']> => {
    await sleep(1000); // zfs-fuse's background work of the previous run is not billed to this one
    // Both start together; the workload is stopped the moment the agent's process has exited.
    const w = startWorkload(cfg.cpuWorkers, readFile, cfg.readFileMiB);
    let a: Awaited<ReturnType<typeof agent>>;
    try {
      a = await agent(low);
    } catch (err) {
      await w.stop().catch(() => undefined);
      throw err;
    }
    const rates = workloadRates(await w.stop());
    await undo();
    return { ...rates, agent: a };
  };
  const aloneRun = async (): Promise<{ cpu: number; disk: number }> => {
    await sleep(1000);
    const w = startWorkload(cfg.cpuWorkers, readFile, cfg.readFileMiB);
    await sleep(cfg.aloneSec * 1000);
    return workloadRates(await w.stop());
  };
  const reps: WorkloadRep[] = [];
  progress(`setup done (${Object.entries(fx.setupSec).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')} s); workload alone ${cfg.aloneSec} s`);
  let before = await aloneRun();
  try {
    for (let rep = 0; rep < cfg.reps; rep++) {
      const load1: number[] = [loadavg()[0]!];
      progress(`rep ${rep + 1}/${cfg.reps}: prefetch alone`);
      await sleep(1000);
      const agentAlone = await agent(null);
      await undo();
      load1.push(loadavg()[0]!);
      // Alternate which priority goes first, so neither always follows the other's writeback.
      const order: ('low' | 'normal')[] = rep % 2 ? ['normal', 'low'] : ['low', 'normal'];
      const got: Partial<Record<'low' | 'normal', WorkloadRep['low']>> = {};
      for (const which of order) {
        progress(`rep ${rep + 1}/${cfg.reps}: workload + prefetch at ${which === 'low' ? 'the unit\'s priorities' : 'default priority'}`);
        got[which] = await contended(which === 'low' ? prio : null);
        load1.push(loadavg()[0]!);
      }
      progress(`rep ${rep + 1}/${cfg.reps}: workload alone ${cfg.aloneSec} s`);
      const after = await aloneRun();
      const alone = { cpu: (before.cpu + after.cpu) / 2, disk: (before.disk + after.disk) / 2 };
      reps.push({ load1, alone, aloneRuns: [before, after], agentAlone, low: got.low!, normal: got.normal! });
      before = after;
    }
  } finally {
    await server.close();
    removeAgentCgroups(prio);
  }
  const summary = (k: 'low' | 'normal'): WorkloadResults['summary']['low'] => ({
    cpuRatio: pairedRatios(reps.map((r) => r.alone.cpu), reps.map((r) => r[k].cpu)),
    diskRatio: pairedRatios(reps.map((r) => r.alone.disk), reps.map((r) => r[k].disk)),
    // wall time with the workload / wall time alone, per repetition
    prefetchSlowdown: pairedRatios(reps.map((r) => r.agentAlone.wallSec), reps.map((r) => r[k].agent.wallSec)),
    zfsFuseShare: spread(reps.map((r) => (r[k].agent.zfsFuseCpuSec ?? 0) / (r[k].agent.cpuSec + (r[k].agent.zfsFuseCpuSec ?? 0)))),
  });
  return {
    startedAt,
    config: { ...cfg, compressedBytes: d.send.size, streamBytes: d.send.streamBytes },
    priorities: prio,
    loadAvg: { start: loadStart, end: loadavg() },
    reps,
    summary: { low: summary('low'), normal: summary('normal'), agentAloneSec: spread(reps.map((r) => r.agentAlone.wallSec)) },
  };
}
