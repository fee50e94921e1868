// The demo's fleet: `upgradectl serve` as its own process (server.json, throwaway CA, its log lines shown) and the operator's `upgradectl fleet` verbs.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { ThrowawayCa } from '../sandbox/tls.js';
import { CLI, eachLine, say, tool } from './processes.js';
import { formatLogLine } from './format.js';

const LISTEN_DEADLINE_MS = 30_000;
/** serve gives a clean stop 30 s; a little more before the demo stops waiting. */
const STOP_DEADLINE_MS = 35_000;

export interface DemoFleet {
  url: string;
  /** Runs `upgradectl fleet <args>` against the server, prints the command and its answer, returns the answer. */
  fleet(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export interface DemoFleetOptions {
  /** The server's directory: server.json, its database, built diffs, the admin token. */
  dir: string;
  publishDir: string;
  /** The publisher's image dataset the server builds missing diffs from (`zfs send -i`). */
  dataset: string;
  /** The online key (upgradectl keygen) the delegations name. */
  delegateKeyFile: string;
  ca: ThrowawayCa;
}

/** Writes server.json and starts `upgradectl serve`; resolves once it logged "fleet server listening". */
export async function startDemoFleet(o: DemoFleetOptions): Promise<DemoFleet> {
  writeFileSync(join(o.dir, 'server.key'), o.ca.key, { mode: 0o600 });
  writeFileSync(join(o.dir, 'server.pem'), o.ca.cert);
  const tokenFile = join(o.dir, 'admin.token');
  writeFileSync(tokenFile, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  const config = join(o.dir, 'server.json');
  // One device: its one rollback is a share of 1/1, over the threshold.
  const rollout = { failureThreshold: 0.5, minReports: 1 };
  writeFileSync(config, JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 },
    tls: { certFile: 'server.pem', keyFile: 'server.key' },
    publishDir: o.publishDir,
    database: 'fleet.db',
    adminTokenFile: 'admin.token',
    checkinIntervalSec: 60,
    diffs: { dir: 'diffs', dataset: o.dataset, delegateKeyFile: o.delegateKeyFile, compression: 'xz', timeoutSec: 300 },
    rollout,
  }, null, 2));
  say(`   server.json: rollout.failureThreshold ${rollout.failureThreshold}, rollout.minReports ${rollout.minReports}, diffs.dataset ${o.dataset}`);

  const child: ResultPromise = execa('node', [CLI, 'serve', '--config', config], { reject: false, buffer: false, stdout: 'pipe', stderr: 'pipe' });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => void (stderr += c.toString('utf8')));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`upgradectl serve did not listen within ${LISTEN_DEADLINE_MS / 1000}s`)), LISTEN_DEADLINE_MS);
    eachLine(child.stdout, (line) => {
      say(formatLogLine(line, 'server'));
      try {
        const o = JSON.parse(line) as { msg?: unknown; url?: unknown };
        if (o.msg === 'fleet server listening' && typeof o.url === 'string') {
          clearTimeout(timer);
          resolve(o.url);
        }
      } catch {
        // not a log line
      }
    });
    void child.then((r) => {
      clearTimeout(timer);
      reject(new Error(`upgradectl serve exited ${String(r.exitCode)} before listening: ${stderr}`));
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await child;
    throw err;
  });

  const fleet = async (args: string[]): Promise<string> => {
    say(`== upgradectl fleet ${args.join(' ')}`);
    const out = await tool(['fleet', ...args, '--server', url, '--token-file', tokenFile, '--ca-file', o.ca.caFile]);
    for (const line of out.split('\n')) say(`   ${line}`);
    return out;
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_DEADLINE_MS)));
    const how = await Promise.race([child.then(() => 'stopped' as const), late]);
    clearTimeout(timer);
    if (how === 'late') {
      child.kill('SIGKILL');
      await child;
    }
  };
  return { url, fleet, stop };
}
