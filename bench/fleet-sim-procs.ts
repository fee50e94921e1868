// Fleet simulation processes: forks the server and client children, samples CPU ticks and RSS from /proc.
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import type { ClientArgs, ClientResult } from './fleet-sim-client.js';

const SERVE = fileURLToPath(new URL('./fleet-serve-child.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./fleet-sim-client.js', import.meta.url));

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime + stime ticks and VmRSS KiB of a process; null once it is gone. */
export function procSample(pid: number): { ticks: number; rssKiB: number; ppid: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { ticks: Number(f[11]) + Number(f[12]), rssKiB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0), ppid: Number(f[1]) };
  } catch {
    return null;
  }
}

/** A PostgreSQL cluster's processes: the postmaster (first line of postmaster.pid) and its children. */
export function postgresPids(dataDir: string): number[] {
  const pm = Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
  const kids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => procSample(p)?.ppid === pm);
  return [pm, ...kids];
}

/** Sums CPU ticks (over every process ever seen: a gone one keeps its last count) and samples the RSS of a group. */
export class GroupSampler {
  private readonly last = new Map<number, number>();
  peakKiB = 0;

  constructor(readonly pids: () => number[]) {}

  sample(): void {
    let rss = 0;
    for (const pid of this.pids()) {
      const s = procSample(pid);
      if (!s) continue;
      this.last.set(pid, s.ticks);
      rss += s.rssKiB;
    }
    this.peakKiB = Math.max(this.peakKiB, rss);
  }

  ticks(): number {
    let t = 0;
    for (const v of this.last.values()) t += v;
    return t;
  }

  /** Starts a new peak window; returns the previous one's peak. */
  resetPeak(): number {
    const p = this.peakKiB;
    this.peakKiB = 0;
    return p;
  }
}

function once<T>(child: ChildProcess, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`child ${child.pid}: no ${type} within ${timeoutMs} ms`)), timeoutMs);
    const onMsg = (m: { type: string } & Record<string, unknown>): void => {
      if (m.type !== type) return;
      clearTimeout(t);
      child.off('message', onMsg);
      resolve(m as T);
    };
    child.on('message', onMsg);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`child ${child.pid} exited (${code}) before ${type}`));
    });
  });
}

/** Starts the server child; resolves once it listens. */
export async function startServer(configPath: string, release: number, buildMs: number): Promise<ChildProcess> {
  const child = fork(SERVE, [configPath, String(release), String(buildMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await once(child, 'listening', 60_000);
  return child;
}

/** SIGTERM, and waits for the exit (SIGKILL after 20 s). */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await gone;
  clearTimeout(t);
}

export interface ClientHandle {
  child: ChildProcess;
  result: () => Promise<ClientResult>;
}

/** Starts a client child (its devices are built before it answers `ready`). */
export async function startClient(a: ClientArgs): Promise<ClientHandle> {
  const child = fork(CLIENT, [JSON.stringify(a)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--max-old-space-size=2048'] });
  await once(child, 'ready', 60_000);
  return {
    child,
    result: async () => {
      const r = once<{ result: ClientResult }>(child, 'result', 120_000);
      child.send({ type: 'finish' });
      return (await r).result;
    },
  };
}
