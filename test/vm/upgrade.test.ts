// Real boots under QEMU: the agent upgrades the appliance through Grub's loopback and falls back when the new image fails.
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { makeVmDevice, type ConsoleMark, type NamedBoot, type VmDevice } from './support/vm-device.js';
import type { Marker } from './support/qemu.js';
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { bootedImage, journalEvents, journalPhases, lastStatus, markersOf, markerTime, up } from './support/markers.js';
import { writeOuterFile } from './support/disk.js';
import { SITE_CONF } from './support/appliance.js';

const say = (s: string) => process.stdout.write(`e2e: ${s}\n`);
let dev: VmDevice;
const onConsole = (name: ConsoleMark) => (m: Marker) => m.kind === 'console' && m.data === name;
const figures: Record<string, number> = {};

/** Boots of the running test, printed in full when it fails. */
function trackBoots(ctx: TestContext): NamedBoot[] {
  const mine: NamedBoot[] = [];
  ctx.onTestFailed(() => {
    say(`guest logs of the failed scenario (all logs under ${dev.work}/boots):`);
    process.stdout.write(`${dev.logs(mine)}\n`);
  });
  return mine;
}

describe.sequential('real boots under QEMU', () => {
  const suiteStart = Date.now();
  beforeAll(async () => {
    dev = await makeVmDevice(process.cwd(), say);
    figures['setupSec'] = (Date.now() - suiteStart) / 1000;
  });
  afterAll(async () => {
    await dev?.close();
    figures['suiteSec'] = (Date.now() - suiteStart) / 1000;
    say(`figures ${JSON.stringify(figures)}`);
  });

  it('1: image 1 upgrades to 2 (config migrated), 2 is committed, and the next plain boot is 2', async (ctx) => {
    const mine = trackBoots(ctx);
    await dev.setTarget(2);
    const a = await dev.boot('s1-upgrade', { then: 'wait', write: { [SITE_CONF]: 'site=changed-on-image-1\n' } });
    mine.push(a);
    expect(bootedImage(a)).toBe(1);
    expect(a.end).toBe('exited');
    // The agent armed the trial and rebooted by itself (the journal, checked after the trial, has every phase edge).
    expect((await dev.grubenv())?.get('next_entry')).toBe('img-2');

    const b = await dev.boot('s1-trial', { then: 'reboot' });
    mine.push(b);
    expect(bootedImage(b)).toBe(2);
    expect(up(b).image).toBe('2');
    expect(up(b).siteConf).toBe('site=changed-on-image-1');
    const s = lastStatus(b);
    expect(s.bootedVersion).toBe(2);
    expect(s.committedVersion).toBe(2);
    expect(s.deployment?.phase).toBe('committed');
    expect(journalPhases(b, s.deployment!.id)).toEqual(['pending', 'downloading', 'downloaded', 'importing', 'imported', 'exporting',
      'ready', 'migrating', 'staged', 'rebooting', 'confirming', 'committed']);
    expect((await dev.grubenv())?.get('next_entry') ?? '').toBe('');
    expect(await dev.grubCfg()).toMatch(/set default="img-2"/);
    // Arming and committing each wrote back the journal of /host (the outer ext4) for Grub, which does not replay it.
    const flushes = journalEvents<{ after: string; kind: string; method: string; mountpoint: string; ms: number }>(b, s.deployment!.id, 'boot-files-flushed');
    expect(flushes.map((f) => [f.after, f.kind, f.method, f.mountpoint])).toEqual([
      ['trial-armed', 'flush', 'checkpoint', '/host'], ['default-moved', 'flush', 'checkpoint', '/host'],
    ]);
    figures['flushMs'] = Math.max(...flushes.map((f) => f.ms));

    // The committed 2 is rebooted plainly (the trial boot's plan asked for it): 2 again.
    const c = await dev.boot('s1-plain', { then: 'poweroff' });
    mine.push(c);
    expect(bootedImage(c)).toBe(2);
    expect(lastStatus(c).committedVersion).toBe(2);

    // Downtime: reboot requested -> the boot confirmed (the reporter starts after upgrade-agent-confirm), against a plain reboot.
    const upgrade = markerTime(b, 'up') - markerTime(a, 'console', (name) => name === 'reboot-into-trial');
    const plain = markerTime(c, 'up') - markerTime(b, 'reboot-requested');
    figures['downtimeUpgradeSec'] = upgrade / 1000;
    figures['downtimePlainSec'] = plain / 1000;
    say(`downtime: upgrade ${(upgrade / 1000).toFixed(1)} s, plain reboot ${(plain / 1000).toFixed(1)} s, ratio ${(upgrade / plain).toFixed(2)}`);
  });

  /** The last boot of the previous failed-trial scenario, which also upgraded towards `target` (see `next`). */
  let carried: { target: number; boot: NamedBoot } | null = null;

  /**
   * On image `base`, offer `target`: the agent prepares and switches by itself, Grub boots the trial once, the trial
   * fails in its own way (`trial` decides how that boot ends), and the next boot is `base` again with the fallback recorded.
   * With `next`, that last boot then offers `next` and the agent switches to it: the next scenario starts from there.
   */
  async function failedTrial(mine: NamedBoot[], base: number, target: number, trial: { killOn?: string; limitSec?: number; next?: number } = {}) {
    let a = carried?.target === target ? carried.boot : null;
    carried = null;
    if (!a) {
      await dev.setTarget(target);
      a = await dev.boot(`upgrade-to-${target}`, { then: 'wait' });
    }
    mine.push(a);
    expect(bootedImage(a)).toBe(base);
    expect(a.end).toBe('exited');
    expect((await dev.grubenv())?.get('next_entry')).toBe(`img-${target}`);

    const killOn = trial.killOn;
    const t = await dev.boot(`trial-${target}`, { then: 'wait' }, {
      ...(killOn ? { killWhen: (m: { kind: string }) => m.kind === killOn, killDelayMs: 2000 } : {}),
      ...(trial.limitSec ? { limitSec: trial.limitSec } : {}),
    });
    mine.push(t);
    expect(bootedImage(t)).toBe(target);
    // Grub cleared the one-shot before booting it: whatever the trial does, the next boot is the committed image.
    expect((await dev.grubenv())?.get('next_entry') ?? '').toBe('');

    const next = trial.next;
    const b = await dev.boot(next ? `back-on-${base}-upgrade-to-${next}` : `back-on-${base}`, { then: 'settle', version: target, ...(next ? { next } : {}) });
    mine.push(b);
    if (next) {
      // The offer lived in the guest's /run; from now on the fleet disk names `next`.
      await dev.setTarget(next);
      carried = { target: next, boot: b };
    }
    expect(bootedImage(b)).toBe(base);
    const s = lastStatus(b);
    expect(s.bootedVersion).toBe(base);
    expect(s.committedVersion).toBe(base);
    expect(s.deployment).toMatchObject({ version: target, phase: 'rolled_back' });
    expect(s.deployment?.lastError?.code).toMatch(/^E_/);
    expect(await dev.grubCfg()).toMatch(new RegExp(`set default="img-${base}"`));
    expect(journalPhases(b, s.deployment!.id)).toEqual(expect.arrayContaining(['ready', 'migrating', 'staged', 'rebooting', 'rolled_back']));
    return { a, t, b, status: s };
  }

  it('2: a target whose initramfs cannot mount its image root panics, reboots, and the device is back on 2 (rolled_back)', async (ctx) => {
    const mine = trackBoots(ctx);
    const { t, status } = await failedTrial(mine, 2, 3, { next: 4 });
    expect(t.end).toBe('exited');
    // initramfs-tools mounts the outer partition as root, finds no init there and panics; panic= reboots.
    expect(t.console).toMatch(/No init found/);
    expect(t.console).toMatch(/Rebooting automatically due to panic= boot argument/);
    expect(status.deployment?.lastError?.code).toBe('E_TRIAL_FAILED');
  });

  it('3a: a target whose kernel panics (init exits) reboots, and the device is back on 2', async (ctx) => {
    const mine = trackBoots(ctx);
    const { t, status } = await failedTrial(mine, 2, 4, { next: 5 });
    expect(t.end).toBe('exited');
    expect(t.console).toMatch(/Kernel panic - not syncing: Attempted to kill init/);
    expect(status.deployment?.lastError?.code).toBe('E_TRIAL_FAILED');
  });

  it('3b: a target that hangs is never confirmed; after a hard reset the device is back on 2', async (ctx) => {
    const mine = trackBoots(ctx);
    const { t, status } = await failedTrial(mine, 2, 5, { killOn: 'hang', next: 6 });
    expect(t.end).toBe('killed');
    expect(status.deployment?.lastError?.code).toBe('E_TRIAL_FAILED');
  });

  it('4: a target whose health check fails makes the agent reboot; back on 2 with the check output in history', async (ctx) => {
    const mine = trackBoots(ctx);
    const { t, b, status } = await failedTrial(mine, 2, 6);
    expect(t.end).toBe('exited');
    expect(status.deployment?.lastError?.code).toBe('E_HEALTH');
    const history = JSON.stringify(markersOf(b, 'history'));
    expect(history).toContain('health check fails on purpose in this image');
  });

  it('5a: a power cut during migrate: the next boot is 2, the agent switches again and commits 7', async (ctx) => {
    const mine = trackBoots(ctx);
    await dev.setTarget(7);
    // 48 MiB of fresh data to migrate: the cut lands while it is being copied into image 7.
    const cut = await dev.boot('cut-in-migrate-7', { then: 'wait', dataMiB: 48 }, { killWhen: onConsole('migrate-planned') });
    mine.push(cut);
    expect(cut.end).toBe('killed');
    expect(cut.console).not.toMatch(/"msg":"trial armed"/);
    expect((await dev.grubenv())?.get('next_entry') ?? '').toBe('');

    const again = await dev.boot('resume-7', { then: 'settle', version: 7 });
    mine.push(again);
    expect(bootedImage(again)).toBe(2);
    expect(again.end).toBe('exited');
    const trial = await dev.boot('trial-7', { then: 'settle', version: 7 });
    mine.push(trial);
    expect(bootedImage(trial)).toBe(7);
    const s = lastStatus(trial);
    expect(s).toMatchObject({ bootedVersion: 7, committedVersion: 7, deployment: { version: 7, phase: 'committed' } });
    expect(await dev.grubCfg()).toMatch(/set default="img-7"/);
  });

  it('5b: a power cut right after the trial is armed: the next boot is the one trial of 8, and the agent finishes', async (ctx) => {
    const mine = trackBoots(ctx);
    await dev.setTarget(8);
    const cut = await dev.boot('cut-after-arming-8', { then: 'wait' }, { killWhen: onConsole('trial-armed') });
    mine.push(cut);
    expect(cut.end).toBe('killed');
    expect(cut.console).toMatch(/"version":8,"committed":7,"msg":"trial armed"/);
    // Read as Grub reads it (debugfs does not replay the ext4 journal): the agent flushed the filesystem after arming.
    // Without that flush Grub saw the grubenv from before the rename and tried 8 one boot late (seen in this suite).
    expect((await dev.grubenv())?.get('next_entry')).toBe('img-8');
    const next = await dev.boot('after-cut-8', { then: 'settle', version: 8 });
    mine.push(next);
    expect(bootedImage(next)).toBe(8);
    expect((await dev.grubenv())?.get('next_entry') ?? '').toBe('');
    const s = lastStatus(next);
    expect(s).toMatchObject({ bootedVersion: 8, committedVersion: 8, trialVersion: null, deployment: { version: 8, phase: 'committed' } });
  });

  it('5c: a power cut after the trial moved the default, then a failing health check: back on 8, rolled_back', async (ctx) => {
    const mine = trackBoots(ctx);
    await dev.setTarget(9);
    const a = await dev.boot('upgrade-to-9', { then: 'wait' });
    mine.push(a);
    expect(bootedImage(a)).toBe(8);
    expect(a.end).toBe('exited');
    expect((await dev.grubenv())?.get('next_entry')).toBe('img-9');
    // The trial passes its checks and grub.cfg's default moves to 9; the power goes before the commit is recorded.
    const cut = await dev.boot('trial-9-cut-after-default-moved', {
      then: 'wait', agentEnv: { UPGRADE_AGENT_CRASH_AT: 'default-moved', UPGRADE_AGENT_CRASH_HOW: 'stop' },
    }, { killWhen: onConsole('crash-point-stopped') });
    mine.push(cut);
    expect(cut.end).toBe('killed');
    expect(bootedImage(cut)).toBe(9);
    expect(await dev.grubCfg()).toMatch(/set default="img-9"/);
    expect((await dev.grubenv())?.get('next_entry') ?? '').toBe('');
    // Grub boots 9 again, by its default. Now its health check fails: the default must go back to 8 before the reboot,
    // or 9 boots for ever (the loop this scenario was written for).
    const again = await dev.boot('trial-9-again-unhealthy', { then: 'wait', write: { '/etc/e2e/health-fails': 'fails after the power cut\n' } });
    mine.push(again);
    expect(bootedImage(again)).toBe(9);
    expect(again.end).toBe('exited');
    expect(await dev.grubCfg()).toMatch(/set default="img-8"/);
    const b = await dev.boot('back-on-8', { then: 'settle', version: 9 });
    mine.push(b);
    expect(bootedImage(b)).toBe(8);
    const s = lastStatus(b);
    expect(s).toMatchObject({ bootedVersion: 8, committedVersion: 8, deployment: { version: 9, phase: 'rolled_back' } });
    expect(s.deployment?.lastError?.code).toBe('E_HEALTH');
  });

  it('6: a garbled grubenv boots the committed image', async (ctx) => {
    const mine = trackBoots(ctx);
    const committed = Number(/set default="img-(\d+)"/.exec(await dev.grubCfg())?.[1]);
    const garbage = join(dev.work, 'garbled-grubenv');
    writeFileSync(garbage, Buffer.concat([Buffer.from('next_entry=img-5\n'), randomBytes(1024 - 17)]));
    await writeOuterFile(dev.outerDisk, garbage, '/boot/grub/grubenv');
    const b = await dev.boot('garbled-grubenv', { then: 'poweroff' });
    mine.push(b);
    expect(bootedImage(b)).toBe(committed);
    expect(lastStatus(b)).toMatchObject({ bootedVersion: committed, committedVersion: committed });
  });

  // Scenario 7 (a read-only root) runs only when asked for: it passed in a run of its own, not yet in the whole suite.
  const readOnly = it.runIf(process.env['E2E_READONLY'] === '1');

  /** A boot of a read-only root: plain `ro` on its command line. */
  function expectReadOnlyCmdline(b: NamedBoot): void {
    const args = (b.cmdline ?? '').split(/\s+/);
    expect(args).toContain('ro');
    expect(args).not.toContain('rw');
  }
  /** ... and `/` and `/host` read-only for the system, from the reporter (which starts only once the boot is confirmed). */
  function expectReadOnly(b: NamedBoot): void {
    expectReadOnlyCmdline(b);
    expect(up(b).mounts).toEqual({ '/': 'ro', '/host': 'ro' });
  }

  readOnly('7a: 10 carries a read-only config: its trial commits, and from then on the device boots plain `ro`', async (ctx) => {
    const mine = trackBoots(ctx);
    const base = Number(/set default="img-(\d+)"/.exec(await dev.grubCfg())?.[1]);
    await dev.setTarget(10);
    const a = await dev.boot('upgrade-to-10', { then: 'wait' });
    mine.push(a);
    expect(bootedImage(a)).toBe(base);
    expect((await dev.grubenv())?.get('next_entry')).toBe('img-10');
    // The trial entry was written by the read-write image: 10's own agent rewrites the entries when it commits.
    const t = await dev.boot('trial-10', { then: 'reboot' });
    mine.push(t);
    expect(bootedImage(t)).toBe(10);
    expect(lastStatus(t)).toMatchObject({ bootedVersion: 10, committedVersion: 10, deployment: { version: 10, phase: 'committed' } });
    const cfg = await dev.grubCfg();
    expect(cfg).toMatch(/set default="img-10"/);
    expect(cfg).not.toMatch(/\brw\b/);
    const c = await dev.boot('plain-10-ro', { then: 'poweroff' });
    mine.push(c);
    expect(bootedImage(c)).toBe(10);
    expectReadOnly(c);
    // The agent runs in its own mount namespace there: its state is readable and its status says where it stands.
    expect(lastStatus(c)).toMatchObject({ bootedVersion: 10, committedVersion: 10 });
  });

  readOnly('7b: on the read-only root, 11 is prepared and armed, fails its health check, and the device is back on 10', async (ctx) => {
    const mine = trackBoots(ctx);
    const { a, t, b, status } = await failedTrial(mine, 10, 11, { next: 12 });
    // The reporter never runs in a and t (the agent reboots before it starts): their command lines only.
    for (const boot of [a, t]) expectReadOnlyCmdline(boot);
    expectReadOnly(b);
    expect(t.end).toBe('exited');
    expect(status.deployment?.lastError?.code).toBe('E_HEALTH');
  });

  readOnly('7c: on the read-only root, 12 (prepared in the last boot of 7b) is committed', async (ctx) => {
    const mine = trackBoots(ctx);
    const t = await dev.boot('trial-12', { then: 'settle', version: 12 });
    mine.push(t);
    expect(bootedImage(t)).toBe(12);
    expectReadOnly(t);
    expect(lastStatus(t)).toMatchObject({ bootedVersion: 12, committedVersion: 12, trialVersion: null, deployment: { version: 12, phase: 'committed' } });
    expect((await dev.grubenv())?.get('next_entry') ?? '').toBe('');
    expect(await dev.grubCfg()).toMatch(/set default="img-12"/);
  });
});
