// The idle daemon's memory: RSS of `upgradectl daemon` after start and after check-ins, sampled from /proc.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeThrowawayCa } from '../src/sandbox/tls.js';
import { startFleetServer } from '../src/fleet/server.js';

export interface IdleRow {
  when: string;
  rssMiB: number;
  hwmMiB: number;
  /** VmRSS split: anonymous pages (heaps) and file-backed ones (mostly the node binary's code and data touched). */
  anonMiB: number;
  fileMiB: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function memOf(pid: number): { rss: number; hwm: number; anon: number; file: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024, anon: kib('RssAnon') / 1024, file: kib('RssFile') / 1024 };
}

/**
 * A device with no pool work to do, checking in every 5 s against the reference fleet server (which offers nothing):
 * the daemon as it sits between check-ins, its HTTP stack loaded. RSS is sampled after `settleSec` and the high-water mark kept.
 */
export async function benchIdle(settleSec = 10): Promise<IdleRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ua-bench-idle-'));
  mkdirSync(join(dir, 'ca'));
  mkdirSync(join(dir, 'host'));
  mkdirSync(join(dir, 'www'));
  const ca = await makeThrowawayCa(join(dir, 'ca'));
  const server = await startFleetServer({ root: join(dir, 'www'), tls: { key: ca.key, cert: ca.cert }, checkin: () => ({ target: null }) });
  writeFileSync(join(dir, 'cmdline'), 'root=/dev/sda1 ua.image=/images/1.img\n');
  writeFileSync(join(dir, 'boot_id'), 'bench\n');
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({
    deviceId: 'bench-idle', hardware: 'bench', zfs: { pool: 'bench-nopool' }, paths: { hostRoot: join(dir, 'host') },
    boot: { cmdlineFile: join(dir, 'cmdline'), bootIdFile: join(dir, 'boot_id') }, logLevel: 'warn',
    fleet: { url: server.url, caFile: ca.caFile, checkinIntervalSec: 5, jitterSec: 0 },
  }));
  const cli = new URL('../src/cli/upgradectl.js', import.meta.url).pathname;
  const child = execa('node', [cli, 'daemon', '--config', config], { reject: false, stdio: 'ignore' });
  const rows: IdleRow[] = [];
  try {
    await sleep(settleSec * 1000);
    const a = memOf(child.pid!);
    rows.push({ when: `${settleSec} s after start`, rssMiB: a.rss, hwmMiB: a.hwm, anonMiB: a.anon, fileMiB: a.file });
    await sleep(settleSec * 3000);
    const b = memOf(child.pid!);
    const checkins = server.stats.get('/v1/checkin')?.requests ?? 0;
    rows.push({ when: `${settleSec * 4} s after start (${checkins} check-ins)`, rssMiB: b.rss, hwmMiB: b.hwm, anonMiB: b.anon, fileMiB: b.file });
    if (checkins < 2) throw new Error(`bench idle: the daemon checked in ${checkins} times, expected several`);
  } finally {
    child.kill('SIGTERM');
    await child;
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function renderIdle(rows: IdleRow[]): string {
  const f = (x: number): string => x.toFixed(1);
  return [
    'idle daemon | RSS MiB | peak (VmHWM) MiB | anon MiB | file MiB',
    ...rows.map((r) => `${r.when} | ${f(r.rssMiB)} | ${f(r.hwmMiB)} | ${f(r.anonMiB)} | ${f(r.fileMiB)}`),
  ].join('\n');
}
