// kill -9 at every step boundary of migrate -> stage -> reboot -> confirm, with and without a power cycle after it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { startFleet, makeDevice, CLI, type Fleet, type Device } from '../support/device-sandbox.js';
import { simulateBootSelection } from '../../src/boot/boot-sim.js';
import { readGrubenv, readTrial } from '../../src/boot/grubenv.js';
import { sandboxBoot } from '../../src/sandbox/rebooter.js';
import { listImages } from '../../src/util/images-dir.js';
import { SWITCH_CRASH_POINTS, stepOfCrashPoint, type SwitchCrashPoint } from '../../src/core/switch-policy.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet({ versions: 2 });
  await fleet.publishVersion(2, [1]);
  fleet.target.version = 2;
});
afterAll(async () => {
  await fleet?.close();
});

/** Step boundaries (the switch's typed crash points) and which command reaches them. */
const POINTS: [SwitchCrashPoint, 'apply' | 'confirm'][] = SWITCH_CRASH_POINTS.map((p) => [p, stepOfCrashPoint(p) === 'confirm' ? 'confirm' : 'apply']);

const grubDir = (dev: Device): string => join(dev.host, 'boot', 'grub');

function killedAt(dev: Device, command: string, point: string) {
  return execa('node', [CLI, command, ...(command === 'apply' ? ['--now'] : []), '--config', dev.configPath], {
    reject: false,
    env: { UPGRADE_AGENT_CRASH_AT: point },
  });
}

/** What the next two boots would select right now: the committed image, or one trial of 2 and then committed. */
function assertBootSelectionSafe(dev: Device): void {
  const cfg = readFileSync(join(grubDir(dev), 'grub.cfg'), 'utf8');
  const present = new Set(listImages(join(dev.host, 'images')).map((i) => i.version));
  const dflt = Number(/set default="img-(\d+)"/.exec(cfg)?.[1]);
  expect([1, 2]).toContain(dflt);
  let env: Map<string, string> | null;
  try {
    env = readGrubenv(grubDir(dev));
  } catch {
    env = null;
  }
  const first = simulateBootSelection(cfg, env, present);
  const second = simulateBootSelection(cfg, first.envAfter, present);
  expect([dflt, 2]).toContain(first.version);
  expect(second.version).toBe(dflt);
}

function failHealth(dev: Device): void {
  const c = JSON.parse(readFileSync(dev.configPath, 'utf8')) as { health: { required: string[] } };
  c.health.required = ['echo "app did not start" >&2; exit 3'];
  writeFileSync(dev.configPath, JSON.stringify(c));
}

async function deviceBootFiles(dev: Device) {
  return {
    grubDir: grubDir(dev), imagesDir: join(dev.host, 'images'), cmdlineFile: join(dev.dir, 'cmdline'), bootIdFile: join(dev.dir, 'boot_id'),
    kernelRoot: '/dev/vda1', imageParam: 'ua.image', imagesPath: '/images', panicSec: 10,
  };
}

describe('kill -9 at every switch step boundary', () => {
  const cases: (readonly [string, 'apply' | 'confirm', 'restart' | 'power cut', 'healthy' | 'unhealthy'])[] = [
    ...POINTS.flatMap(([point, cmd]) => [[point, cmd, 'restart', 'healthy'], [point, cmd, 'power cut', 'healthy']] as const),
    // grub.cfg already defaults to the trial and the commit is not recorded; now the health check fails.
    ['default-moved', 'confirm', 'restart', 'unhealthy'],
    ['default-moved', 'confirm', 'power cut', 'unhealthy'],
  ];
  // Only an unconfirmed trial that loses power falls back (Grub consumed it), or one that turns unhealthy;
  // everything else finishes the upgrade.
  const expected = (point: string, cmd: string, after: string, health: string): string =>
    health === 'unhealthy' || (after === 'power cut' && cmd === 'confirm' && point !== 'default-moved') ? 'rolled_back' : 'committed';
  it.each(cases)('%s (%s), then %s, %s: settles, never stuck, never two trials', async (point, cmd, after, health) => {
    const dev = await makeDevice(fleet, `crash-${point}-${after === 'restart' ? 'r' : 'p'}${health === 'healthy' ? '' : '-u'}`);
    try {
      await dev.cli(['check-in']);
      await dev.cli(['grub-cfg', '--print']).then(async (r) => {
        // The device was installed with a grub.cfg for its committed image, as the installer writes it.
        writeFileSync(join(grubDir(dev), 'grub.cfg'), `${r.stdout}\n`);
      });
      if (cmd === 'confirm') await dev.cli(['apply', '--now']); // the trial boot happened; confirm is next
      const killed = await killedAt(dev, cmd, point);
      expect(killed.signal).toBe('SIGKILL');
      assertBootSelectionSafe(dev);
      if (health === 'unhealthy') failHealth(dev);
      if (after === 'power cut') await sandboxBoot(await deviceBootFiles(dev));

      // Start the agent again (the boot-time confirm unit does this) until the deployment settles.
      let phase = '';
      for (let i = 0; i < 6; i++) {
        phase = (await dev.statusJson()).deployment?.phase ?? '';
        if (phase === 'committed' || phase === 'rolled_back') break;
        await dev.cli(['confirm']);
        assertBootSelectionSafe(dev);
      }
      expect(phase).toBe(expected(point, cmd, after, health));
      const st = await dev.statusJson();
      const cfg = readFileSync(join(grubDir(dev), 'grub.cfg'), 'utf8');
      expect(readTrial(grubDir(dev))).toBeNull();
      if (phase === 'committed') {
        expect(st.committedVersion).toBe(2);
        expect(cfg).toContain('set default="img-2"');
      } else {
        expect(st.committedVersion).toBe(1);
        expect(cfg).toContain('set default="img-1"');
        expect(readFileSync(join(dev.dir, 'cmdline'), 'utf8')).toContain('ua.image=/images/1.img');
        if (health === 'unhealthy') expect(st.deployment?.lastError?.code).toBe('E_HEALTH');
      }
    } finally {
      await dev.close();
    }
  });

  it('grub.cfg moved to the trial, then every start dies in the health checks: rolled back on 1 after a bounded number of boots', async () => {
    const dev = await makeDevice(fleet, 'crash-confirm-loop');
    try {
      await dev.cli(['check-in']);
      writeFileSync(join(grubDir(dev), 'grub.cfg'), `${(await dev.cli(['grub-cfg', '--print'])).stdout}\n`);
      await dev.cli(['apply', '--now']);
      expect((await killedAt(dev, 'confirm', 'default-moved')).signal).toBe('SIGKILL');
      // A health check that hangs the machine: each start is cut short before a verdict, and the power cycle
      // boots grub.cfg's default, which is the trial now.
      let phase = '';
      let starts = 0;
      for (; starts < 8; starts++) {
        phase = (await dev.statusJson()).deployment?.phase ?? '';
        if (phase === 'committed' || phase === 'rolled_back') break;
        await sandboxBoot(await deviceBootFiles(dev));
        await killedAt(dev, 'confirm', 'confirming-recorded');
        assertBootSelectionSafe(dev);
      }
      // Before: the trial booted again at every power cycle, and the phase stayed `confirming` forever.
      expect(phase).toBe('rolled_back');
      expect(starts).toBeLessThanOrEqual(4);
      const st = await dev.statusJson();
      expect(st.deployment?.lastError?.code).toBe('E_TRIAL_FAILED');
      expect(st.committedVersion).toBe(1);
      expect(readTrial(grubDir(dev))).toBeNull();
      expect(readFileSync(join(grubDir(dev), 'grub.cfg'), 'utf8')).toContain('set default="img-1"');
      expect(readFileSync(join(dev.dir, 'cmdline'), 'utf8')).toContain('ua.image=/images/1.img');
      // The next start is quiet.
      expect((await dev.cli(['confirm'])).stdout).toMatch(/nothing to confirm/);
    } finally {
      await dev.close();
    }
  });

  it('cut in migrating with an image that cannot be repaired: the deployment fails once with the code, nothing is armed, the next start is quiet', async () => {
    const dev = await makeDevice(fleet, 'crash-unrepairable');
    try {
      await dev.cli(['check-in']);
      writeFileSync(join(grubDir(dev), 'grub.cfg'), `${(await dev.cli(['grub-cfg', '--print'])).stdout}\n`);
      expect((await killedAt(dev, 'apply', 'migrating-recorded')).signal).toBe('SIGKILL');
      // What the cut left is beyond e2fsck (a real cut mid-write leaves a journal to replay: test/steps/migrate-recover).
      writeFileSync(join(dev.host, 'images/2.img'), randomBytes(4 << 20));

      const first = await dev.cli(['confirm'], { reject: false });
      expect(first.exitCode).not.toBe(0);
      expect(first.stderr).toMatch(/E_MIGRATE_FSCK/);
      const st = await dev.statusJson();
      expect(st.deployment).toMatchObject({ version: 2, phase: 'failed', lastError: { code: 'E_MIGRATE_FSCK' } });
      expect(st.committedVersion).toBe(1);
      expect(readTrial(grubDir(dev))).toBeNull();
      assertBootSelectionSafe(dev);
      // Before, every start staged it again and failed again: the service crash-looped (seen in the QEMU suite).
      expect((await dev.cli(['confirm'], { reject: false })).exitCode).toBe(0);
    } finally {
      await dev.close();
    }
  });
});

describe('UPGRADE_AGENT_CRASH_HOW=stop (the real-boot suite cuts the power on it)', () => {
  it('says so on the log and stops at the crash point, with nothing written after it', async () => {
    const dev = await makeDevice(fleet, 'crash-stop');
    try {
      await dev.cli(['check-in']);
      writeFileSync(join(grubDir(dev), 'grub.cfg'), `${(await dev.cli(['grub-cfg', '--print'])).stdout}\n`);
      const child = execa('node', [CLI, 'apply', '--now', '--config', dev.configPath], {
        reject: false, env: { UPGRADE_AGENT_CRASH_AT: 'migrated', UPGRADE_AGENT_CRASH_HOW: 'stop' },
      });
      let out = '';
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no crash-point line within 60 s:\n${out}`)), 60_000);
        child.stdout?.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('crash point reached: process stopped')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      // State T: stopped by SIGSTOP, alive, so nothing it could still write (the trial armed, `staged`) is written.
      await new Promise((r) => setTimeout(r, 300));
      expect(readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.[0]).toBe('T');
      expect(readTrial(grubDir(dev))).toBeNull();
      child.kill('SIGKILL');
      expect((await child).signal).toBe('SIGKILL');
      expect((await dev.statusJson()).deployment?.phase).toBe('migrating');
    } finally {
      await dev.close();
    }
  });
});
