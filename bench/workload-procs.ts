// Processes of the workload bench: the workload's workers, the agent child at the shipped unit's priorities, the cgroups.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import type { PrefetchArgs, PrefetchReport } from './prefetch-child.js';
import type { WorkloadReport } from './workload-child.js';
import { sharesForWeight } from './workload-stats.js';

const WORKLOAD = fileURLToPath(new URL('./workload-child.js', import.meta.url));
const PREFETCH = fileURLToPath(new URL('./prefetch-child.js', import.meta.url));

/** systemd/upgrade-agent.service: CPUWeight=20, IOWeight=20, Nice=10, IOSchedulingClass=best-effort, IOSchedulingPriority=7. */
export const UNIT = { cpuWeight: 20, ioWeight: 20, nice: 10, ioClass: 2, ioLevel: 7 } as const;

/** What was applied to the agent's process in the low-priority runs, in words for the report. */
export interface Priorities {
  cpuCgroup: string;
  cpuShares: number;
  /** null: the blkio controller offers no weight file (no BFQ/CFQ on the disk), so IOWeight= has no v1 equivalent here. */
  blkio: { cgroup: string; weight: number; file: string } | null;
  nice: number;
  ionice: string;
  diskScheduler: string;
}

/** Refuses early (before the minutes of fixture) on a host without the cgroup v1 cpu controller or as non-root. */
export function checkCgroupV1(): void {
  if (!existsSync('/sys/fs/cgroup/cpu/cpu.shares') || process.getuid?.() !== 0) {
    throw new Error('BENCH_ONLY=workload needs root and the cgroup v1 cpu controller at /sys/fs/cgroup/cpu (to apply CPUWeight= as cpu.shares)');
  }
}

/** The I/O scheduler of the block device holding `path` (a partition's is its disk's), e.g. "vda: mq-deadline". */
function schedulerOf(path: string): string {
  const dev = statSync(path).dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  const base = `/sys/dev/block/${major}:${minor}`;
  for (const q of [`${base}/queue/scheduler`, `${base}/../queue/scheduler`]) {
    if (!existsSync(q)) continue;
    const name = realpathSync(dirname(dirname(q))).split('/').at(-1) ?? '?';
    return `${name}: ${/\[(\S+)\]/.exec(readFileSync(q, 'utf8'))?.[1] ?? 'none'}`;
  }
  return `${major}:${minor}: unknown`;
}

/** Creates the agent's cpu (and, if the kernel offers a weight, blkio) cgroup with the unit's weights. */
export function makeAgentCgroups(name: string, workDir: string): Priorities {
  const cpu = `/sys/fs/cgroup/cpu/${name}`;
  mkdirSync(cpu);
  const cpuShares = sharesForWeight(UNIT.cpuWeight);
  writeFileSync(`${cpu}/cpu.shares`, String(cpuShares));
  let blkio: Priorities['blkio'] = null;
  const file = ['blkio.bfq.weight', 'blkio.weight'].find((f) => existsSync(`/sys/fs/cgroup/blkio/${f}`));
  if (file) {
    const dir = `/sys/fs/cgroup/blkio/${name}`;
    mkdirSync(dir);
    // systemd's IOWeight= → blkio weight on the legacy hierarchy: weight * 500 / 100, within 10..1000.
    const weight = Math.min(1000, Math.max(10, Math.floor((UNIT.ioWeight * 500) / 100)));
    writeFileSync(`${dir}/${file}`, String(weight));
    blkio = { cgroup: dir, weight, file };
  }
  return { cpuCgroup: cpu, cpuShares, blkio, nice: UNIT.nice, ionice: `-c ${UNIT.ioClass} -n ${UNIT.ioLevel}`, diskScheduler: schedulerOf(workDir) };
}

export function removeAgentCgroups(p: Priorities): void {
  for (const dir of [p.cpuCgroup, p.blkio?.cgroup]) if (dir && existsSync(dir)) rmdirSync(dir);
}

export interface Workload {
  stop(): Promise<WorkloadReport[]>;
}

/** Starts `cpuWorkers` gzip loops and one O_DIRECT reader of `file`, each an ordinary process (nice 0, root cgroup). */
export function startWorkload(cpuWorkers: number, file: string, fileMiB: number): Workload {
  const kids: ChildProcess[] = [];
  const outs: Promise<WorkloadReport>[] = [];
  const launch = (args: string[]): void => {
    const child = spawn(process.execPath, [WORKLOAD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    kids.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    outs.push(new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => {
        const line = stdout.trim().split('\n').at(-1);
        if (code !== 0 || !line) return reject(new Error(`workload ${args[0]} exited ${code}: ${stderr.trim()}`));
        resolve(JSON.parse(line) as WorkloadReport);
      });
    }));
  };
  for (let i = 0; i < cpuWorkers; i++) launch(['cpu']);
  launch(['disk', file, String(fileMiB)]);
  return {
    stop: async () => {
      for (const k of kids) k.kill('SIGTERM');
      return Promise.all(outs);
    },
  };
}

/** Workload totals: cpu = bytes gzipped per second summed over workers; disk = bytes read per second. */
export function workloadRates(reports: WorkloadReport[]): { cpu: number; disk: number } {
  const sum = (mode: 'cpu' | 'disk'): number => reports.filter((r) => r.mode === mode).reduce((a, r) => a + (r.sec > 0 ? r.bytes / r.sec : 0), 0);
  return { cpu: sum('cpu'), disk: sum('disk') };
}

export interface AgentRun extends PrefetchReport {
  wallSec: number;
}

/**
 * Runs the prefetch child: `low` puts it in the agent cgroup and under nice/ionice before exec (so node, xz and zfs
 * all inherit them), otherwise it starts as an ordinary process. Killed after `deadlineSec`.
 */
export async function runAgent(args: PrefetchArgs, low: Priorities | null, deadlineSec: number): Promise<AgentRun> {
  const json = JSON.stringify(args);
  const t0 = performance.now();
  const cmd = low
    ? ['sh', ['-c', `echo $$ > "$1/cgroup.procs" && ${low.blkio ? 'echo $$ > "$2/cgroup.procs" && ' : ''}exec nice -n ${low.nice} ionice ${low.ionice} "$3" "$4" "$5"`,
      'sh', low.cpuCgroup, low.blkio?.cgroup ?? '', process.execPath, PREFETCH, json]] as const
    : [process.execPath, [PREFETCH, json]] as const;
  const r = await execa(cmd[0], [...cmd[1]], { reject: false, timeout: deadlineSec * 1000 });
  const wallSec = (performance.now() - t0) / 1000;
  const line = r.stdout.trim().split('\n').at(-1);
  if (r.exitCode !== 0 || !line) throw new Error(`prefetch child exited ${r.exitCode}${r.timedOut ? ' (deadline)' : ''}: ${r.stderr.trim()}`);
  return { ...(JSON.parse(line) as PrefetchReport), wallSec };
}

/** CPU seconds (user + system) of the zfs-fuse daemon so far, or null if it is not found. */
export async function zfsFuseCpuSec(): Promise<number | null> {
  const r = await execa('pidof', ['zfs-fuse'], { reject: false });
  const pid = r.stdout.trim().split(/\s+/)[0];
  if (!pid) return null;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return ((f[11] ?? 0) + (f[12] ?? 0)) / 100;
}
