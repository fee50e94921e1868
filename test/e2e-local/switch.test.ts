// The switch in the sandbox: apply -> (sandbox reboot through the real grub.cfg/grubenv) -> confirm or fall back.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { startFleet, makeDevice, CLI, type Fleet, type Device } from '../support/device-sandbox.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet({ versions: 3 });
  await fleet.publishVersion(2, [1]);
  await fleet.publishVersion(3, [2]);
});
afterAll(async () => {
  await fleet?.close();
});

const grubDir = (dev: Device): string => join(dev.host, 'boot', 'grub');
const booted = (dev: Device): string => readFileSync(join(dev.dir, 'cmdline'), 'utf8');
async function grubenvList(dev: Device): Promise<string> {
  return (await execa('grub-editenv', [join(grubDir(dev), 'grubenv'), 'list'])).stdout;
}
async function catInImage(image: string, path: string): Promise<string> {
  return (await execa('debugfs', ['-R', `cat ${path}`, image])).stdout;
}
const grubDefault = (dev: Device): string | undefined => /set default="([^"]*)"/.exec(readFileSync(join(grubDir(dev), 'grub.cfg'), 'utf8'))?.[1];
async function snapshots(dev: Device): Promise<string[]> {
  const r = await execa('zfs', ['list', '-H', '-t', 'snapshot', '-o', 'name', '-r', `${dev.pool.name}/images`]);
  return r.stdout.split('\n').filter(Boolean).map((n) => n.slice(n.indexOf('@')));
}
interface LooseConfig { window?: unknown; health: { required: string[] } }
function setConfig(dev: Device, patch: (c: LooseConfig) => void): void {
  const c = JSON.parse(readFileSync(dev.configPath, 'utf8')) as LooseConfig;
  patch(c);
  writeFileSync(dev.configPath, JSON.stringify(c));
}

describe('switch in the sandbox', () => {
  it('2 is tried once, passes health, is committed; 3 fails health and the device falls back to 2', async () => {
    const dev = await makeDevice(fleet, 'switch');
    try {
      fleet.target.version = 2;
      await dev.cli(['check-in']);
      // Outside the window (it opens at 03:00 for 2 hours... unless the test runs then): apply without --now waits.
      setConfig(dev, (c) => { c.window = { cron: '0 0 1 1 *', durationMin: 1 }; });
      const wait = await dev.cli(['apply']);
      expect(wait.stdout).toMatch(/^wait:/);
      const waiting = await dev.statusJson();
      expect(waiting.deployment?.phase).toBe('ready');
      expect(waiting.window.open).toBe(false);
      expect(waiting.window.opensAt).toMatch(/-01-01T00:00:00.000Z$/);
      // Next look: when the window opens, or earlier when the switch deadline (ready + 72 h) falls due first.
      const next = Date.parse(waiting.deployment?.nextAttemptAt ?? '');
      expect(next).toBeLessThanOrEqual(Date.parse(waiting.window.opensAt));
      expect(next).toBeGreaterThan(Date.now() + 71 * 3600_000);

      await dev.cli(['apply', '--now']);
      // The sandbox reboot went through our grub.cfg: the trial booted and Grub cleared next_entry first.
      expect(booted(dev)).toContain('ua.image=/images/2.img');
      expect(await grubenvList(dev)).toMatch(/^next_entry=$/m);
      const cfg = readFileSync(join(grubDir(dev), 'grub.cfg'), 'utf8');
      expect(cfg).toContain('set default="img-1"');
      expect((await execa('grub-script-check', [join(grubDir(dev), 'grub.cfg')], { reject: false })).exitCode).toBe(0);
      expect((await dev.statusJson()).deployment?.phase).toBe('rebooting');

      expect((await dev.cli(['confirm'])).stdout).toMatch(/committed: image 2/);
      let st = await dev.statusJson();
      expect(st.committedVersion).toBe(2);
      expect(readFileSync(join(grubDir(dev), 'grub.cfg'), 'utf8')).toContain('set default="img-2"');
      // Configuration migrated into the new image with it.
      expect(await catInImage(join(dev.host, 'images', '2.img'), '/etc/app.conf')).toBe('device=switch');
      // Each write of Grub's files was followed by the flush for Grub (the sandbox's /host is not a mount of its own).
      const flushes = (JSON.parse((await dev.cli(['history', '--json'])).stdout) as { entries: { event: string; data: { after: string; kind: string } }[] })
        .entries.filter((e) => e.event === 'boot-files-flushed').map((e) => e.data.after);
      expect(flushes).toEqual(['trial-armed', 'default-moved']);

      // Version 3 with a failing required health check.
      setConfig(dev, (c) => { c.health.required = ['echo "service db did not start" >&2; exit 4']; });
      fleet.target.version = 3;
      await dev.cli(['check-in']);
      await dev.cli(['apply', '--now']);
      expect(booted(dev)).toContain('ua.image=/images/3.img');
      // Health fails: the agent reboots itself; the consumed trial means the default (2) boots.
      await dev.cli(['confirm']);
      expect(booted(dev)).toContain('ua.image=/images/2.img');
      await dev.cli(['confirm']);
      st = await dev.statusJson();
      expect(st.deployment?.version).toBe(3);
      expect(st.deployment?.phase).toBe('rolled_back');
      expect(st.deployment?.lastError?.code).toBe('E_HEALTH');
      expect(st.committedVersion).toBe(2);
      const hist = JSON.parse((await dev.cli(['history', '--json'])).stdout) as { entries: { event: string; data: unknown }[] };
      expect(JSON.stringify(hist.entries.filter((e) => e.event === 'health'))).toContain('service db did not start');
      // The same version is not retried automatically.
      await dev.cli(['check-in']);
      expect((await dev.statusJson()).deployment?.phase).toBe('rolled_back');
    } finally {
      await dev.close();
    }
  });


  it('inside the window a busy device postpones, and after the allowed postponements the switch is forced', async () => {
    const dev = await makeDevice(fleet, 'busy');
    try {
      fleet.target.version = 2;
      await dev.cli(['check-in']);
      setConfig(dev, (c) => {
        c.window = { cron: '* * * * *', durationMin: 60, maxPostponements: 1, idle: { maxLoad: 0, busyCommands: ['true'], systemdInhibitors: false } };
      });
      expect((await dev.cli(['apply'])).stdout).toMatch(/^postpone:.*busy/);
      expect((await dev.statusJson()).deployment?.phase).toBe('ready');
      await dev.cli(['apply']);
      expect(booted(dev)).toContain('ua.image=/images/2.img');
      const hist = JSON.parse((await dev.cli(['history', '--json'])).stdout) as { entries: { event: string; data: { forced?: boolean } | null }[] };
      expect(hist.entries.filter((e) => e.event === 'window:postpone')).toHaveLength(1);
      expect(hist.entries.find((e) => e.event === 'window:switch')?.data?.forced).toBe(true);
    } finally {
      await dev.close();
    }
  });

  it('pre-flight refuses a migration that does not fit in the image: nothing armed, the deployment fails', async () => {
    const dev = await makeDevice(fleet, 'nofit');
    try {
      fleet.target.version = 2;
      await dev.cli(['check-in']);
      const { truncateSync, writeFileSync: write } = await import('node:fs');
      write(join(dev.dir, 'rootfs', 'etc', 'app.conf'), 'x');
      truncateSync(join(dev.dir, 'rootfs', 'etc', 'app.conf'), 200 * 1024 * 1024);
      const r = await dev.cli(['apply', '--now'], { reject: false });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('E_PREFLIGHT');
      const st = await dev.statusJson();
      expect(st.deployment?.phase).toBe('failed');
      expect(st.deployment?.lastError?.code).toBe('E_PREFLIGHT');
      expect(st.trialVersion).toBeNull();
      expect(booted(dev)).toContain('ua.image=/images/1.img');
    } finally {
      await dev.close();
    }
  });

  it('an image changed after its verified export is hashed again and refused', async () => {
    const dev = await makeDevice(fleet, 'tamper');
    try {
      fleet.target.version = 2;
      await dev.cli(['check-in']);
      const img = join(dev.host, 'images', '2.img');
      const { statSync, utimesSync, openSync, writeSync, closeSync } = await import('node:fs');
      const { atime, mtime } = statSync(img);
      const fd = openSync(img, 'r+');
      writeSync(fd, Buffer.from('X'), 0, 1, 4096 * 3);
      closeSync(fd);
      utimesSync(img, atime, mtime);
      const r = await dev.cli(['apply', '--now'], { reject: false });
      expect(r.stderr).toContain('E_PREFLIGHT');
      expect((await dev.statusJson()).deployment?.phase).toBe('failed');
      expect(booted(dev)).toContain('ua.image=/images/1.img');
    } finally {
      await dev.close();
    }
  });

  it('killed after grub.cfg moved to the trial, then unhealthy: back on 1 and rolled_back within a bounded number of boots', async () => {
    const dev = await makeDevice(fleet, 'loop');
    try {
      fleet.target.version = 2;
      await dev.cli(['check-in']);
      await dev.cli(['apply', '--now']);
      const killed = await execa('node', [CLI, 'confirm', '--config', dev.configPath], { reject: false, env: { UPGRADE_AGENT_CRASH_AT: 'default-moved' } });
      expect(killed.signal).toBe('SIGKILL');
      // The window: grub.cfg already defaults to the trial, the commit is not recorded.
      expect(grubDefault(dev)).toBe('img-2');
      setConfig(dev, (c) => { c.health.required = ['echo "app did not start" >&2; exit 3']; });
      // Start the agent again (the boot-time confirm unit does this at every boot) until the deployment settles.
      const boots: string[] = [];
      let phase = '';
      for (let i = 0; i < 5; i++) {
        phase = (await dev.statusJson()).deployment?.phase ?? '';
        if (phase === 'committed' || phase === 'rolled_back') break;
        await dev.cli(['confirm']);
        boots.push(booted(dev));
      }
      // Before: every run rebooted into the trial (grub.cfg still defaulted to it), phase confirming forever.
      expect(phase).toBe('rolled_back');
      expect(boots.length).toBeLessThanOrEqual(2);
      expect(booted(dev)).toContain('ua.image=/images/1.img');
      expect(grubDefault(dev)).toBe('img-1');
      const st = await dev.statusJson();
      expect(st.deployment?.lastError?.code).toBe('E_HEALTH');
      expect(st.committedVersion).toBe(1);
      expect(st.trialVersion).toBeNull();
    } finally {
      await dev.close();
    }
  });

  it('before the first commit the fallback is image 1: status and check-in say so, cleanup during the trial keeps image 1 and @1', async () => {
    const dev = await makeDevice(fleet, 'first', { space: { reserveBytes: 0, keepImages: 1 } });
    try {
      fleet.target.version = 2;
      await dev.cli(['check-in']);
      await dev.cli(['apply', '--now']);
      expect(booted(dev)).toContain('ua.image=/images/2.img');
      // During the trial: nothing is committed but image 1, whatever booted.
      const r = await dev.cli(['cleanup'], { reject: false });
      expect(existsSync(join(dev.host, 'images', '1.img'))).toBe(true);
      expect(await snapshots(dev)).toContain('@1');
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('E_SWITCH_ACTIVE');
      expect((await dev.statusJson()).committedVersion).toBe(1);
      await dev.cli(['check-in']);
      expect(fleet.reports.filter((x) => x.deviceId === 'first').at(-1)).toMatchObject({ bootedVersion: 2, committedVersion: 1 });

      // The commit moves it, together with grub.cfg's default; retention then may drop image 1.
      expect((await dev.cli(['confirm'])).stdout).toMatch(/committed: image 2/);
      expect((await dev.statusJson()).committedVersion).toBe(2);
      expect(grubDefault(dev)).toBe('img-2');
      await dev.cli(['cleanup']);
      expect(existsSync(join(dev.host, 'images', '2.img'))).toBe(true);
      expect(existsSync(join(dev.host, 'images', '1.img'))).toBe(false);
      expect(await snapshots(dev)).toContain('@2');
    } finally {
      await dev.close();
    }
  });
});
