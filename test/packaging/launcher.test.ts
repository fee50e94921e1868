// /usr/bin/upgradectl (packaging/upgradectl): with a read-only /host it runs the agent in its own mount namespace, /host writable there only.
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HOST_NS_ENV } from '../../src/adapters/host-namespace.js';

const dir = mkdtempSync(join(tmpdir(), 'ua-launcher-'));
const host = join(dir, 'host');
const launcher = join(dir, 'upgradectl');
const probe = join(dir, 'probe.mjs');

/** The shipped launcher, with the installed paths pointed at this Node.js and a probe instead of the agent. */
function writeLauncher(): void {
  const shipped = readFileSync(new URL('../../packaging/upgradectl', import.meta.url), 'utf8');
  const ours = shipped
    .replace('node=/usr/lib/upgrade-agent/node/bin/node', `node=${process.execPath}`)
    .replace('/usr/lib/upgrade-agent/dist/src/cli/upgradectl.js', probe);
  expect(ours).not.toBe(shipped);
  expect(ours).toContain(probe);
  writeFileSync(launcher, ours, { mode: 0o755 });
}

// What the agent would see: its namespace variable, whether /host takes a write, its pid and arguments; with
// PROBE_SYSTEM_MOUNT, one mount made the way the agent runs zfs (zfsVia, built) and one made in place.
const hostNamespaceJs = new URL('../../dist/src/adapters/host-namespace.js', import.meta.url).pathname;
const PROBE = `
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { zfsVia } from ${JSON.stringify(hostNamespaceJs)};
const host = process.env.UPGRADE_AGENT_HOST_MOUNT;
let wrote = 'yes';
try { writeFileSync(host + '/written-by-agent', 'x'); } catch (e) { wrote = e.code; }
let systemMount = null;
if (process.env.PROBE_SYSTEM_MOUNT) {
  const [cmd, ...pre] = zfsVia(process.env, process.pid);
  execFileSync(cmd, [...pre, 'mount', '-t', 'tmpfs', 'tmpfs', process.env.PROBE_SYSTEM_MOUNT]);
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', process.env.PROBE_PRIVATE_MOUNT]);
  systemMount = 'done';
}
console.log(JSON.stringify({ ns: process.env.${HOST_NS_ENV} ?? null, wrote, pid: process.pid, args: process.argv.slice(2), systemMount }));
process.exit(Number(process.env.PROBE_EXIT ?? 0));
`;

async function run(args: string[], env: Record<string, string> = {}) {
  const r = await execa(launcher, args, { reject: false, env: { UPGRADE_AGENT_HOST_MOUNT: host, ...env }, extendEnv: true });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  return { ...r, seen: JSON.parse(line) as { ns: string | null; wrote: string; pid: number; args: string[]; systemMount: string | null } };
}

const writable = (p: string): boolean => {
  try {
    accessSync(p, constants.W_OK);
    writeFileSync(join(p, 'probe-outside'), 'x');
    return true;
  } catch {
    return false;
  }
};

const umount = async (p: string) => void (await execa('umount', ['-l', p], { reject: false }));

beforeAll(() => {
  writeFileSync(probe, PROBE);
  writeLauncher();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the launcher and a read-only /host', () => {
  beforeAll(() => mkdirSync(host, { recursive: true }));
  afterEach(async () => {
    await umount(host);
    rmSync(join(host, 'written-by-agent'), { force: true });
  });

  it('a writable /host: no namespace, the agent runs as is, arguments and exit code passed through', async () => {
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', host]);
    const r = await run(['status', '--json', 'a b'], { PROBE_EXIT: '3' });
    expect(r.exitCode).toBe(3);
    expect(r.seen).toMatchObject({ ns: null, wrote: 'yes', args: ['status', '--json', 'a b'] });
  });

  it('a read-only mount of a writable filesystem: the agent writes in its own namespace, keeps the PID, and /host stays read-only outside', async () => {
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', host]);
    await execa('mount', ['-o', 'remount,bind,ro', host]);
    expect(writable(host)).toBe(false);
    const child = execa(launcher, ['daemon', '--config', '/etc/x y.json'], { reject: false, env: { UPGRADE_AGENT_HOST_MOUNT: host } });
    const r = await child;
    const seen = JSON.parse(r.stdout.trim()) as { ns: string; wrote: string; pid: number; args: string[] };
    expect(r.exitCode).toBe(0);
    expect(seen).toMatchObject({ ns: host, wrote: 'yes', args: ['daemon', '--config', '/etc/x y.json'] });
    // unshare execs in place: systemd's main PID (Type=notify) is the agent itself.
    expect(seen.pid).toBe(child.pid);
    // Same filesystem: the write is there; the mount outside is still read-only.
    expect(readFileSync(join(host, 'written-by-agent'), 'utf8')).toBe('x');
    expect(writable(host)).toBe(false);
  });

  it('zfs run under zfsVia mounts where the system sees it; a mount made in the namespace itself stays there', async () => {
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', host]);
    await execa('mount', ['-o', 'remount,bind,ro', host]);
    const sys = join(dir, 'system-mount');
    const priv = join(dir, 'private-mount');
    mkdirSync(sys, { recursive: true });
    mkdirSync(priv, { recursive: true });
    try {
      const r = await run(['export'], { PROBE_SYSTEM_MOUNT: sys, PROBE_PRIVATE_MOUNT: priv });
      expect(r.seen.systemMount).toBe('done');
      const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]);
      expect(mounts).toContain(sys);
      expect(mounts).not.toContain(priv);
    } finally {
      await umount(sys);
      await umount(priv);
    }
  });

  it('a read-only filesystem (cannot be made writable): says so, runs the agent all the same, whose writes fail', async () => {
    await execa('mount', ['-t', 'tmpfs', '-o', 'ro', 'tmpfs', host]);
    const r = await run(['status']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain(`upgradectl: ${host} stays read-only`);
    expect(r.seen).toMatchObject({ ns: host, wrote: 'EROFS' });
    expect(existsSync(join(host, 'written-by-agent'))).toBe(false);
  });
});
