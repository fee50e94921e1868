// The Grub-files flush on a real ext4: what a reader that ignores the journal (Grub; here debugfs) sees, before and after.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IoctlBootFlusher, planFlush } from '../../src/adapters/boot-flush.js';
import { armTrial, disarmTrial, parseGrubenv } from '../../src/boot/grubenv.js';
import { writeGrubCfg } from '../../src/boot/grub-files.js';
import type { MountEntry } from '../../src/util/proc-mounts.js';
import { sandbox, type Sandbox } from '../steps/migrate-fixture.js';

const m = (target: string, fstype: string): MountEntry => ({ source: 'x', target, fstype });

describe('planFlush', () => {
  const mounts = [m('/', 'ext4'), m('/host', 'ext4'), m('/host/boot', 'vfat'), m('/hostile', 'xfs'), m('/run', 'tmpfs')];
  it('flushes the journaled filesystem that holds the directory (the longest mount that contains it)', () => {
    expect(planFlush(mounts, '/host/boot/grub')).toMatchObject({ kind: 'not-needed', mountpoint: '/host/boot', fstype: 'vfat' });
    expect(planFlush(mounts.slice(0, 2), '/host/boot/grub')).toEqual({ kind: 'flush', mountpoint: '/host', fstype: 'ext4' });
    expect(planFlush(mounts, '/hostile/grub')).toEqual({ kind: 'flush', mountpoint: '/hostile', fstype: 'xfs' });
    expect(planFlush(mounts, '/host')).toMatchObject({ kind: 'flush', mountpoint: '/host' });
  });
  it('never touches the filesystem of / (a freeze would stall the agent), and skips what has no journal Grub ignores', () => {
    expect(planFlush(mounts, '/boot/grub')).toEqual({ kind: 'skip-root', mountpoint: '/', fstype: 'ext4' });
    expect(planFlush(mounts, '/run/grub')).toMatchObject({ kind: 'not-needed', fstype: 'tmpfs' });
  });
  it('takes the last of mounts stacked on one target (the visible one)', () => {
    expect(planFlush([m('/', 'ext4'), m('/b', 'ext4'), m('/b', 'tmpfs')], '/b/grub')).toMatchObject({ kind: 'not-needed', fstype: 'tmpfs' });
  });
});

describe('IoctlBootFlusher on a loop-mounted ext4', () => {
  let sb: Sandbox;
  let img: string;
  let host: string;
  let grubDir: string;
  /** The grubenv as Grub would read it: debugfs on the image file, which does not replay the journal. */
  const grubenvOnDisk = async () => parseGrubenv(Buffer.from((await execa('debugfs', ['-R', 'cat /boot/grub/grubenv', img], { encoding: 'buffer' })).stdout));
  const cfg = (v: number) => `set default="img-${v}"\nmenuentry "img-${v}" --id img-${v} {\n  true\n}\n`;

  beforeEach(async () => {
    sb = sandbox('boot-flush');
    img = join(sb.dir, 'outer.img');
    host = join(sb.dir, 'host');
    grubDir = join(host, 'boot/grub');
    await execa('mkfs.ext4', ['-q', '-F', img, '32M']);
    mkdirSync(host);
    await execa('mount', ['-o', 'loop', img, host]);
    mkdirSync(grubDir, { recursive: true });
    writeGrubCfg(grubDir, cfg(1));
    disarmTrial(grubDir);
    // Unmounted once: everything so far is in its home blocks, as after a clean shutdown.
    await execa('umount', [host]);
    await execa('mount', ['-o', 'loop', img, host]);
  });

  afterEach(async () => {
    await execa('fsfreeze', ['--unfreeze', host], { reject: false });
    await sb.cleanup();
  });

  // Both methods: what this kernel picks (the checkpoint ioctl from Linux 5.13 on), and the freeze cycle.
  const [major = 0, minor = 0] = release().split('.').map(Number);
  const auto = major > 5 || (major === 5 && minor >= 13) ? 'checkpoint' : 'freeze';
  for (const method of ['auto', 'freeze'] as const) {
    it(`without a flush, Grub would still read the grubenv from before the rename; after one (${method}), the armed trial`, async () => {
      const flusher = new IoctlBootFlusher({ method });
      armTrial(grubDir, 2);
      // The control: fsync'd and renamed, safe for Linux, yet not in the home blocks (what the QEMU suite's 5b met).
      expect((await grubenvOnDisk()).get('next_entry') ?? '').toBe('');

      const r = await flusher.flush(grubDir);
      expect(r).toMatchObject({ kind: 'flush', mountpoint: host, fstype: 'ext4' });
      expect(r.method).toBe(method === 'freeze' ? 'freeze' : auto);
      expect((await grubenvOnDisk()).get('next_entry')).toBe('img-2');
      // Not left frozen: a write completes (on a frozen filesystem it would block past the timeout).
      await execa('sh', ['-c', `echo ok > ${join(host, 'after-flush')} && sync -f ${host}`], { timeout: 10_000 });
    });
  }

  it('a grub.cfg rewritten then flushed is what a journal-blind reader finds', async () => {
    writeGrubCfg(grubDir, cfg(2));
    await new IoctlBootFlusher().flush(grubDir);
    expect((await execa('debugfs', ['-R', 'cat /boot/grub/grub.cfg', img])).stdout).toBe(cfg(2).trimEnd());
  });

  it('thawIfFrozen undoes a freeze left behind, and is quiet on a filesystem that is not frozen', async () => {
    const flusher = new IoctlBootFlusher();
    await flusher.thawIfFrozen(grubDir);
    await execa('fsfreeze', ['--freeze', host]);
    await flusher.thawIfFrozen(grubDir);
    await execa('sh', ['-c', `echo ok > ${join(host, 'after-thaw')} && sync -f ${host}`], { timeout: 10_000 });
  });

  it('a helper that fails after freezing is E_BOOT_FLUSH with the mountpoint, and the filesystem is thawed', async () => {
    // Stands in for perl (called as: -e SCRIPT MOUNTPOINT MODE): freezes, then fails as a FITHAW error would.
    const helper = join(sb.dir, 'freeze-and-fail');
    writeFileSync(helper, '#!/bin/sh\n[ "$4" = thaw ] && exec fsfreeze --unfreeze "$3"\nfsfreeze --freeze "$3"; echo "FITHAW: stub" >&2; exit 1\n');
    chmodSync(helper, 0o755);
    const err = await new IoctlBootFlusher({ perl: helper }).flush(grubDir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_BOOT_FLUSH', context: { mountpoint: host } });
    expect((err as Error).message).toContain('FITHAW: stub');
    await execa('sh', ['-c', `echo ok > ${join(host, 'after-failure')} && sync -f ${host}`], { timeout: 10_000 });
  });

  it('an ext4 without a journal has nothing to write back', async () => {
    const plain = join(sb.dir, 'nojournal.img');
    const mp = join(sb.dir, 'nojournal');
    await execa('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', plain, '16M']);
    mkdirSync(mp);
    await execa('mount', ['-o', 'loop', plain, mp]);
    expect(await new IoctlBootFlusher().flush(mp)).toMatchObject({ kind: 'flush', fstype: 'ext4', method: auto === 'checkpoint' ? 'none' : 'freeze' });
  });
});
