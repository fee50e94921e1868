// A throwaway PostgreSQL cluster (Debian's postgresql) in a temp dir, run as the `postgres` user: tests and benchmarks.
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';

export const PG_BIN = process.env['UA_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';

export interface ThrowawayPostgres {
  dir: string;
  /** postgresql:// URL of `database` over the cluster's unix socket (trust auth, user postgres). */
  url(database: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the cluster (immediate) and removes its directory. */
  stop(): Promise<void>;
}

/** Whether this machine can run one (the server binaries and a `postgres` user). */
export function postgresAvailable(): boolean {
  return existsSync(join(PG_BIN, 'initdb')) && existsSync(join(PG_BIN, 'pg_ctl')) && readFileSync('/etc/passwd', 'utf8').split('\n').some((l) => l.startsWith('postgres:'));
}

async function asPostgres(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  const r = await execa('runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args], { reject: false, timeout: timeoutMs, env: { LC_ALL: 'C' } });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.exitCode ?? 'timeout'}): ${r.stderr || r.stdout || r.shortMessage}`);
}

/**
 * initdb + pg_ctl start in a fresh dir, listening only on a unix socket there (no TCP port to collide with);
 * fsync off (a test cluster need not survive a power cut). `settings` are extra `-c` server settings.
 */
export async function startThrowawayPostgres(settings: Record<string, string | number> = {}): Promise<ThrowawayPostgres> {
  if (process.getuid?.() !== 0) throw new Error('startThrowawayPostgres: needs root (it runs the cluster as the postgres user)');
  const dir = mkdtempSync(join(tmpdir(), 'ua-pg-'));
  const pgUid = Number(/^postgres:[^:]*:(\d+):(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'))?.[1]);
  const pgGid = Number(/^postgres:[^:]*:(\d+):(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'))?.[2]);
  chownSync(dir, pgUid, pgGid);
  const data = join(dir, 'data');
  const port = 5432;
  const opts = [`-k ${dir}`, `-p ${port}`, "-c listen_addresses=''", '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off',
    ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(' ');
  let started = false;
  const stop = async (): Promise<void> => {
    if (started) await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '60', 'stop'], 70_000).catch(() => undefined);
    started = false;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await asPostgres('initdb', ['-D', data, '--auth=trust', '--username=postgres', '--no-sync', '--encoding=UTF8', '--locale=C'], 120_000);
    await asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', opts, '-w', '-t', '60', 'start'], 70_000);
    started = true;
  } catch (err) {
    await stop();
    throw err;
  }
  const url = (database: string): string => `postgresql:///${encodeURIComponent(database)}?host=${encodeURIComponent(dir)}&port=${port}&user=postgres`;
  return {
    dir, url, stop,
    async createDatabase(name: string): Promise<string> {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`createDatabase: ${name} is not a plain identifier`);
      const c = new pg.Client({ connectionString: url('postgres'), connectionTimeoutMillis: 10_000 });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return url(name);
    },
  };
}
