// Timing primitives for the benchmark: the shell baseline with sampled peak RSS, and the node child running our step.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { ChildArgs, ChildReport } from './import-child.js';

const CHILD = fileURLToPath(new URL('./import-child.js', import.meta.url));

export interface ShellRun {
  sec: number;
  /** Sum over the pipeline's processes of each one's VmHWM (KiB), sampled every 50 ms; null if none was caught. */
  peakKiB: number | null;
  /** Command name → that process's sampled VmHWM (KiB). */
  perProcessKiB: Record<string, number>;
}

/** Direct children of `ppid`, from /proc/<pid>/stat (field 4 is the parent pid). */
function childrenOf(ppid: number): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const parent = Number(stat.slice(close + 2).split(' ')[1]);
      if (parent === ppid) out.push({ pid: Number(entry), comm: stat.slice(stat.indexOf('(') + 1, close) });
    } catch {
      // the process ended between readdir and read
    }
  }
  return out;
}

function vmHWM(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Times `sh -c SCRIPT sh ARGS...` and samples the VmHWM of the shell's children (the pipeline's commands).
 * /proc is scanned only until `expect` children were seen, then just their status files are read.
 */
export function timeShell(script: string, args: string[], expect = 2): Promise<ShellRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const sh = spawn('sh', ['-c', script, 'sh', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const seen = new Map<number, { comm: string; hwm: number }>();
    const sample = (): void => {
      if (sh.pid === undefined) return;
      if (seen.size < expect) for (const c of childrenOf(sh.pid)) if (!seen.has(c.pid)) seen.set(c.pid, { comm: c.comm, hwm: 0 });
      for (const [pid, s] of seen) s.hwm = Math.max(s.hwm, vmHWM(pid) ?? 0);
    };
    const timer = setInterval(sample, 50);
    setTimeout(sample, 5);
    let stderr = '';
    sh.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    sh.on('error', (err) => {
      clearInterval(timer);
      reject(err);
    });
    sh.on('close', (code) => {
      const sec = (performance.now() - t0) / 1000;
      clearInterval(timer);
      if (code !== 0) return reject(new Error(`sh -c '${script}' ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
      const perProcessKiB: Record<string, number> = {};
      for (const s of seen.values()) if (s.hwm > 0) perProcessKiB[s.comm] = Math.max(perProcessKiB[s.comm] ?? 0, s.hwm);
      const values = Object.values(perProcessKiB);
      resolve({ sec, peakKiB: values.length ? values.reduce((a, b) => a + b, 0) : null, perProcessKiB });
    });
  });
}

export interface ChildRun extends ChildReport {
  /** Wall time of the whole child process, node start-up included. */
  wallSec: number;
}

/** Runs `node dist/bench/import-child.js <json>` and returns its report. */
export function runChild(args: ChildArgs): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CHILD, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallSec = (performance.now() - t0) / 1000;
      const line = stdout.trim().split('\n').at(-1);
      if (code !== 0 || !line) return reject(new Error(`bench child (${args.op}) exited ${code}: ${stderr.trim()}`));
      resolve({ ...(JSON.parse(line) as ChildReport), wallSec });
    });
  });
}

/** Awaits `fn` and returns its result with the elapsed seconds. */
export async function timeIt<T>(fn: () => Promise<T>): Promise<{ sec: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { sec: (performance.now() - t0) / 1000, value };
}

export const min = (xs: number[]): number => Math.min(...xs);
export const max = (xs: number[]): number => Math.max(...xs);

/** Where the fastest run of ours spent its time: in zfs recv, in other zfs CLI calls, outside zfs (verify, copy). */
export interface OursSplit {
  recvSec: number;
  zfsControlSec: number;
  restSec: number;
  zfsCalls: number;
}

export interface OursStats {
  runsSec: number[];
  bestSec: number;
  wallSec: number[];
  startRSSKiB: number;
  maxRSSKiB: number;
  split: OursSplit;
}

export function oursStats(runs: ChildRun[]): OursStats {
  const best = runs.reduce((a, b) => (b.sec < a.sec ? b : a));
  return {
    runsSec: runs.map((r) => r.sec),
    bestSec: best.sec,
    wallSec: runs.map((r) => r.wallSec),
    startRSSKiB: max(runs.map((r) => r.startRSSKiB)),
    maxRSSKiB: max(runs.map((r) => r.maxRSSKiB)),
    split: { recvSec: best.zfs.recvSec, zfsControlSec: best.zfs.controlSec, restSec: best.sec - best.zfs.recvSec - best.zfs.controlSec, zfsCalls: best.zfs.calls },
  };
}

/** Pause before each timed run, so zfs-fuse finishes background work of the previous one instead of billing it on. */
export const PAUSE_MS = 1000;
