// The built `upgradectl serve` as an operator runs it (logs where it listens, stops on SIGTERM, refuses bad configs),
// and the `upgradectl fleet` verbs against it: every rollout verb, status in text and JSON, each refusal's code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { makeThrowawayCa } from '../support/tls.js';

const CLI = join(process.cwd(), 'dist/src/cli/upgradectl.js');
const run = async (args: string[], env: Record<string, string> = {}) => {
  const r = await execa('node', [CLI, ...args], { reject: false, env, timeout: 60_000 });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
};

let dir: string;
let caFile: string;

/** server.json in `dir`, relative paths as the docs show them. */
async function writeConfig(name: string, over: Record<string, unknown> = {}): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 }, tls: { certFile: 'server.pem', keyFile: 'server.key' }, publishDir: 'www',
    database: 'state/fleet.db', adminTokenFile: 'admin.token', checkinIntervalSec: 60, diffs: { dataset: null }, ...over,
  }));
  return path;
}

interface Running { proc: ResultPromise; url: string; lines: Record<string, unknown>[] }

/** Starts `upgradectl serve` and waits (at most 20 s) for its "listening" line. */
async function startServe(config: string): Promise<Running> {
  const proc = execa('node', [CLI, 'serve', '--config', config], { reject: false, buffer: false });
  const lines: Record<string, unknown>[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('serve did not log "fleet server listening" within 20 s')), 20_000);
    let buf = '';
    proc.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (line['msg'] === 'fleet server listening') {
          clearTimeout(timer);
          resolve(String(line['url']));
        }
      }
    });
    void proc.then((r) => reject(new Error(`serve exited ${r.exitCode} before listening: ${String(r.stderr)}`)));
  });
  return { proc, url, lines };
}

let srv: Running;
const fleetAt = (server: string, verb: string, args: string[] = []) =>
  run(['fleet', verb, '--server', server, '--token-file', join(dir, 'admin.token'), '--ca-file', caFile, ...args]);
const fleet = (verb: string, args: string[] = [], env: Record<string, string> = {}) =>
  run(['fleet', verb, '--server', srv.url, '--token-file', join(dir, 'admin.token'), '--ca-file', caFile, ...args], env);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ua-serve-cli-'));
  const ca = await makeThrowawayCa(dir);
  caFile = ca.caFile;
  await writeFile(join(dir, 'server.pem'), ca.cert);
  await writeFile(join(dir, 'server.key'), ca.key);
  await writeFile(join(dir, 'admin.token'), 'op-token-1\n');
  for (const d of ['manifests', 'streams']) await mkdir(join(dir, 'www', d), { recursive: true });
  await writeFile(join(dir, 'www', 'manifests', '7.json'), '{"signed":"elsewhere"}');
  srv = await startServe(await writeConfig('server.json'));
}, 60_000);

afterAll(async () => {
  if (srv && srv.proc.exitCode === null) srv.proc.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('upgradectl fleet: the rollout verbs', () => {
  it('start, widen, pause, resume: each answers the rollout, in text and in JSON with schema', async () => {
    const s = await fleet('start', ['--channel', 'stable', '--hardware', 'x86', '--version', '7', '--percent', '5', '--step', '10', '--every', '6h']);
    expect(s.exitCode, s.stderr).toBe(0);
    expect(s.stdout).toBe('rollout #1 stable/x86 v7: active, 5%, +10% every 21600s');
    const w = await fleet('widen', ['--id', '1', '--percent', '25.5', '--json']);
    expect(JSON.parse(w.stdout)).toMatchObject({ schema: 1, id: 1, percent: 25.5, state: 'active' });
    expect((await fleet('pause', ['--id', '1'])).stdout).toBe('rollout #1 stable/x86 v7: paused (operator), 25.5%, +10% every 21600s');
    expect((await fleet('resume', ['--id', '1'])).stdout).toMatch(/^rollout #1 stable\/x86 v7: active, 25.5%/);
  });

  it('pin (a version, stay, remove) and hold (and release)', async () => {
    expect((await fleet('pin', ['--device', 'dev-1', '--version', '7'])).stdout).toBe('pins: dev-1=7');
    expect((await fleet('pin', ['--device', 'dev-2', '--stay'])).stdout).toBe('pins: dev-1=7, dev-2=stay');
    expect((await fleet('pin', ['--device', 'dev-1', '--remove'])).stdout).toBe('pins: dev-2=stay');
    expect(JSON.parse((await fleet('pin', ['--device', 'dev-2', '--remove', '--json'])).stdout)).toMatchObject({ schema: 1 });
    expect((await fleet('hold', ['--version', '7'])).stdout).toBe('held versions: 7');
    expect(JSON.parse((await fleet('hold', ['--version', '7', '--release', '--json'])).stdout)).toEqual({ schema: 1, holds: [] });
  });

  it('status: devices, rollouts and diffs, in text and in JSON (schema 1)', async () => {
    const checkin = await fetch(`${srv.url}/v1/checkin`, { method: 'POST' }).catch((e: Error) => e);
    expect(checkin).toBeInstanceOf(Error); // the throwaway CA is not in Node's roots: the CLI needs --ca-file, and has it
    const text = await fleet('status');
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^fleet: 0 device\(s\) at /);
    expect(text.stdout).toContain('#1 stable/x86 v7: active, 25.5% (0 in cohort)');
    const j = JSON.parse((await fleet('status', ['--json'])).stdout) as { schema: number; rollouts: { id: number }[]; diffs: { built: number } };
    expect(j.schema).toBe(1);
    expect(j.rollouts.map((r) => r.id)).toEqual([1]);
    expect(j.diffs.built).toBe(0);
  });

  it('server, token and CA may come from the environment', async () => {
    const r = await run(['fleet', 'status', '--json'], { UPGRADE_FLEET_SERVER: srv.url, UPGRADE_FLEET_TOKEN_FILE: join(dir, 'admin.token'), UPGRADE_FLEET_CA_FILE: caFile });
    expect(r.exitCode, r.stderr).toBe(0);
  });
});

describe('upgradectl fleet: refusals have stable codes', () => {
  it('a wrong token is E_FLEET_AUTH (exit 1); a missing token file E_CONFIG_READ (exit 2)', async () => {
    await writeFile(join(dir, 'wrong.token'), 'nope');
    const bad = await run(['fleet', 'status', '--server', srv.url, '--token-file', join(dir, 'wrong.token'), '--ca-file', caFile]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/^upgradectl: E_FLEET_AUTH: .*refused the token/);
    const missing = await run(['fleet', 'status', '--server', srv.url, '--token-file', join(dir, 'absent.token')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/^upgradectl: E_CONFIG_READ: cannot read the token file/);
  });

  it('what the server refuses is E_FLEET_REFUSED with its own code and message', async () => {
    const r = await fleet('widen', ['--id', '99', '--percent', '50']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^upgradectl: E_FLEET_REFUSED: .*refused widen: E_USAGE: no rollout 99/);
  });

  it('bad flags are E_USAGE (exit 2) before anything is sent', async () => {
    for (const [verb, args, why] of [
      ['widen', ['--id', '1', '--percent', '101'], /--percent must be .* 0\.\.100/],
      ['start', ['--channel', 'c', '--hardware', 'h', '--version', '8', '--percent', '1', '--step', '5'], /--step and --every go together/],
      ['start', ['--channel', 'c', '--hardware', 'h', '--version', '8', '--percent', '1', '--step', '5', '--every', '6 hours'], /--every takes a duration/],
      ['pin', ['--device', 'd', '--stay', '--remove'], /exactly one of/],
      ['pause', [], /--id is required/],
    ] as const) {
      const r = await fleet(verb, [...args]);
      expect(r.exitCode, verb).toBe(2);
      expect(r.stderr, verb).toMatch(why);
    }
    const noServer = await run(['fleet', 'status', '--token-file', join(dir, 'admin.token')], { UPGRADE_FLEET_SERVER: '' });
    expect(noServer.stderr).toMatch(/E_USAGE: --server URL is required/);
    expect((await run(['fleet', 'launch'])).stderr).toMatch(/E_USAGE: fleet needs one of: status, start, widen, pause, resume, pin, hold \(not launch\)/);
    expect((await run(['fleet', 'status', '--server', srv.url.replace('https:', 'http:'), '--token-file', join(dir, 'admin.token')])).stderr).toMatch(/E_CONFIG_INVALID: .*HTTPS only/);
  });

  it('an unreachable server is E_HTTP_NETWORK; one that never answers is cut at --timeout', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createTcpServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    const down = await fleetAt(`https://127.0.0.1:${closed}`, 'status');
    expect(down.exitCode).toBe(1);
    expect(down.stderr).toMatch(/^upgradectl: E_HTTP_NETWORK: /);
    const mute: TcpServer = createTcpServer(() => undefined); // accepts, never speaks TLS
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', () => r()));
    const t0 = Date.now();
    const slow = await fleetAt(`https://127.0.0.1:${(mute.address() as { port: number }).port}`, 'status', ['--timeout', '1']);
    mute.close();
    expect(slow.exitCode).toBe(1);
    expect(slow.stderr).toMatch(/^upgradectl: E_HTTP_(TIMEOUT|DEADLINE|NETWORK): /);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});

describe('upgradectl serve', () => {
  it('refuses a bad config with its code (exit 2): unknown key, missing TLS file, no --config', async () => {
    const unknown = await run(['serve', '--config', await writeConfig('unknown.json', { bogus: 1 })]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/^upgradectl: E_CONFIG_UNKNOWN_KEY: .*bogus/);
    const noCert = await run(['serve', '--config', await writeConfig('nocert.json', { tls: { certFile: 'absent.pem', keyFile: 'server.key' } })]);
    expect(noCert.exitCode).toBe(2);
    expect(noCert.stderr).toMatch(/^upgradectl: E_CONFIG_READ: config tls.certFile: cannot read .*absent\.pem/);
    const noDir = await run(['serve', '--config', await writeConfig('nodir.json', { publishDir: 'nowhere' })]);
    expect(noDir.stderr).toMatch(/^upgradectl: E_CONFIG_READ: config publishDir: .*nowhere is not a directory/);
    expect((await run(['serve'])).stderr).toMatch(/^upgradectl: E_USAGE: serve needs --config FILE/);
  });

  it('a port in use is E_SERVE_LISTEN (exit 1)', async () => {
    const port = Number(new URL(srv.url).port);
    const r = await run(['serve', '--config', await writeConfig('busy.json', { listen: { host: '127.0.0.1', port }, database: 'state/busy.db' })]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^upgradectl: E_SERVE_LISTEN: cannot listen on 127\\.0\\.0\\.1:${port}`));
  });

  it('logs where it listens; SIGTERM closes it cleanly (exit 0), and SIGINT too', async () => {
    expect(srv.lines[0]).toMatchObject({ msg: 'fleet server listening', host: '127.0.0.1', admin: true, builds: false });
    expect(srv.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    srv.proc.kill('SIGTERM');
    const r = await srv.proc;
    expect(r.exitCode).toBe(0);
    expect(srv.lines.map((l) => l['msg'])).toEqual(['fleet server listening', 'fleet server stopping', 'fleet server stopped']);
    const again = await startServe(await writeConfig('server.json'));
    again.proc.kill('SIGINT');
    expect((await again.proc).exitCode).toBe(0);
    expect(again.lines.at(-1)?.['msg']).toBe('fleet server stopped');
    // The rollouts survived the restart (one SQLite file).
    const third = await startServe(await writeConfig('server.json'));
    srv = third;
    expect((await fleet('status', ['--json'])).stdout).toContain('"version": 7');
    third.proc.kill('SIGTERM');
    expect((await third.proc).exitCode).toBe(0);
  });
});
