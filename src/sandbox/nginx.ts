// A throwaway nginx (Debian's nginx) with a private prefix, pid file, temp dirs, logs and 127.0.0.1 port: tests put it in front of serve.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';

export const NGINX_BIN = process.env['UA_NGINX_BIN'] ?? '/usr/sbin/nginx';

/** One access-log line: what the client asked and what nginx did with its cache. */
export interface NginxAccess {
  method: string;
  uri: string;
  status: number;
  /** $upstream_cache_status: HIT, MISS, EXPIRED, BYPASS, …, or '-' when the cache was not consulted. */
  cache: string;
  range: string;
}

export interface ThrowawayNginx {
  dir: string;
  port: number;
  /** https://127.0.0.1:PORT */
  url: string;
  access(): NginxAccess[];
  /** Fast shutdown (SIGTERM, then SIGKILL after 10 s) and removes the directory. */
  stop(): Promise<void>;
}

/** A port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * The example config (packaging/nginx.example.conf) with its deployment-specific values replaced by the sandbox's.
 * Each `from` must occur exactly once, so the example cannot drift away from what the test runs.
 */
export function substituteExample(example: string, values: [from: string, to: string][]): string {
  let out = example;
  for (const [from, to] of values) {
    const n = out.split(from).length - 1;
    if (n !== 1) throw new Error(`nginx example: expected "${from}" once, found it ${n} times`);
    out = out.replace(from, to);
  }
  return out;
}

const LOG_FORMAT = `'$request_method $request_uri $status $upstream_cache_status "$http_range"'`;

function parseAccess(line: string): NginxAccess {
  const m = /^(\S+) (\S+) (\d+) (\S+) "([^"]*)"$/.exec(line);
  if (!m) throw new Error(`nginx access log: unexpected line ${line}`);
  return { method: m[1]!, uri: m[2]!, status: Number(m[3]), cache: m[4]!, range: m[5]! };
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => s.end(() => resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/**
 * Writes nginx.conf around `site(dir)` (directives for the http block: the test's server and proxy_cache_path) and
 * runs `nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'` as a child; resolves once the port accepts connections.
 */
export async function startThrowawayNginx(port: number, site: (dir: string) => string): Promise<ThrowawayNginx> {
  if (!existsSync(NGINX_BIN)) throw new Error(`startThrowawayNginx: no ${NGINX_BIN} (Debian's nginx: scripts/dev.sh setup installs it)`);
  const dir = mkdtempSync(join(tmpdir(), 'ua-nginx-'));
  for (const d of ['tmp', 'cache']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'site.conf'), site(dir));
  const root = process.getuid?.() === 0;
  writeFileSync(join(dir, 'nginx.conf'), [
    root ? 'user root;' : '', 'worker_processes 1;', `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log info;`,
    'events { worker_connections 64; }',
    'http {',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/tmp/${t};`),
    `  log_format ua_cache ${LOG_FORMAT};`, `  access_log ${dir}/access.log ua_cache;`,
    `  include ${dir}/site.conf;`, '}', '',
  ].join('\n'));
  const args = ['-p', dir, '-c', join(dir, 'nginx.conf')];
  const check = await execa(NGINX_BIN, [...args, '-t'], { reject: false, timeout: 20_000 });
  if (check.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`nginx -t failed: ${check.stderr}`);
  }
  const child: ResultPromise = execa(NGINX_BIN, [...args, '-g', 'daemon off;'], { reject: false, stdin: 'ignore' });
  let exited = false;
  void child.then(() => (exited = true));
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await child;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  while (!(await accepts(port))) {
    if (exited || Date.now() > deadline) {
      const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
      await stop();
      throw new Error(`nginx did not listen on 127.0.0.1:${port} within 15 s: ${log.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    dir, port, url: `https://127.0.0.1:${port}`, stop,
    access: () => {
      const f = join(dir, 'access.log');
      return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter((l) => l !== '').map(parseAccess) : [];
    },
  };
}
