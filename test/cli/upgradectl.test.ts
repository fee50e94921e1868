// The built `upgradectl` run as the README and the usage show it: multi-key signing, per-verb --help, global options first.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { VERBS } from '../../src/cli/verbs.js';
import { publishOptions } from '../../src/cli/commands/publisher.js';
import { parseArgs } from '../../src/cli/args.js';
import { generateKeyPair, writeSecretKeyFile } from '../../src/trust/keys.js';

const CLI = join(process.cwd(), 'dist/src/cli/upgradectl.js');
const run = async (args: string[], cwd?: string) => {
  const r = await execa('node', [CLI, ...args], { reject: false, cwd });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
};

let dir: string;
const keyids: string[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ua-cli-'));
  for (const name of ['a', 'b', 'c']) {
    const kp = generateKeyPair();
    writeSecretKeyFile(join(dir, `${name}.key`), { keyid: kp.keyid, secretKey: kp.secretKey });
    keyids.push(kp.keyid);
  }
  writeFileSync(join(dir, 'payload.json'), '{"version":2}');
});

const signatures = (file: string) => (JSON.parse(readFileSync(join(dir, file), 'utf8')) as { signatures: { keyid: string }[] }).signatures.map((s) => s.keyid);

describe('upgradectl sign', () => {
  it('signs with every --key given, repeated (the usage form) or comma-separated (the README form)', async () => {
    expect((await run(['sign', '--key', 'a.key', '--key', 'b.key', '--payload', 'payload.json', '--out', 'rep.json'], dir)).exitCode).toBe(0);
    expect(signatures('rep.json').sort()).toEqual([keyids[0], keyids[1]].sort());
    expect((await run(['sign', '--key', 'a.key,b.key', '--key', 'c.key', '--payload', 'payload.json', '--out', 'mix.json'], dir)).exitCode).toBe(0);
    expect(signatures('mix.json').sort()).toEqual([...keyids].sort());
  });

  it('refuses a repeated single-valued flag with E_USAGE (exit 2) instead of keeping the last', async () => {
    const r = await run(['sign', '--key', 'a.key', '--payload', 'payload.json', '--out', 'x.json', '--out', 'y.json'], dir);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^upgradectl: E_USAGE: --out given twice/);
  });
});

describe('publish flags', () => {
  it('keeps every --base-url mirror and every --key, and fills the documented defaults', () => {
    const args = parseArgs(['--dataset', 'tank/images', '--version', '415', '--out', '/srv/www', '--hardware', 'x86',
      '--key', join(dir, 'a.key'), '--key', join(dir, 'b.key'), '--base-url', 'https://m1.example', '--base-url', 'https://m2.example,https://m3.example'],
    { dataset: 'value', version: 'value', out: 'value', hardware: 'list', key: 'list', 'base-url': 'list' });
    const o = publishOptions(args);
    expect(o.mirrors).toEqual(['https://m1.example', 'https://m2.example', 'https://m3.example']);
    expect(o.keys.map((k) => k.keyid)).toEqual([keyids[0], keyids[1]]);
    expect(o).toMatchObject({ label: 'version 415', channel: 'stable', expiresDays: 30, from: 'all', full: true, compression: 'xz', imageFile: 'root.img' });
  });
});

describe('--help', () => {
  it('every verb answers --help with exit 0 and its own usage, naming each of its flags', async () => {
    for (const [verb, spec] of Object.entries(VERBS)) {
      const r = await run([...verb.split(' '), '--help']);
      expect(r.exitCode, verb).toBe(0);
      expect(r.stdout, verb).toMatch(new RegExp(`^usage: upgradectl ${verb}\\b`));
      expect(r.stdout, verb).toContain(spec.summary);
      for (const flag of Object.keys(spec.flags)) expect(r.stdout, `${verb} --${flag}`).toContain(`--${flag}`);
    }
  });

  it('help VERB says the same; the bare command prints the overview (exit 0 with --help, 2 without)', async () => {
    expect((await run(['help', 'publish'])).stdout).toBe((await run(['publish', '--help'])).stdout);
    expect((await run(['--help'])).exitCode).toBe(0);
    expect((await run([])).exitCode).toBe(2);
  });
});

describe('global options before the verb', () => {
  it('--config FILE and --json go before or after the verb; --json only where the verb takes it', async () => {
    const host = join(dir, 'host');
    mkdirSync(join(host, 'images'), { recursive: true });
    writeFileSync(join(dir, 'cmdline'), 'root=/dev/vda1 ua.image=/images/1.img\n');
    const cfg = join(dir, 'config.json');
    writeFileSync(cfg, JSON.stringify({ deviceId: 'front', hardware: 'h', zfs: { pool: 'p' }, paths: { hostRoot: host, socket: join(dir, 'none.sock') }, boot: { cmdlineFile: join(dir, 'cmdline') } }));
    for (const argv of [['--config', cfg, 'status', '--json'], ['--config', cfg, '--json', 'status'], ['status', '--json', '--config', cfg], [`--config=${cfg}`, 'status', '--json']]) {
      const r = await run(argv);
      expect(r.exitCode, argv.join(' ')).toBe(0);
      expect((JSON.parse(r.stdout) as { device: { id: string } }).device.id).toBe('front');
    }
    expect((await run(['--config', cfg, 'status'])).stdout).toMatch(/^device {5}front/);
    const twice = await run(['--config', cfg, 'status', '--config', cfg]);
    expect(twice.exitCode).toBe(2);
    expect(twice.stderr).toMatch(/E_USAGE: --config given twice/);
    expect((await run(['--json', 'apply', '--config', cfg])).stderr).toMatch(/^upgradectl: E_USAGE: unknown option --json for apply/);
  });
});
