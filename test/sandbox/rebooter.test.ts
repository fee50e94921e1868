// Boot selection through the real generated grub.cfg and grubenv files: every fault lands on the committed image.
import { describe, it, expect, beforeEach } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { sandboxBoot, SandboxRebooter } from '../../src/sandbox/rebooter.js';
import { renderGrubCfg } from '../../src/core/switch-grub.js';
import { writeGrubCfg } from '../../src/boot/grub-files.js';
import { armTrial, readTrial } from '../../src/boot/grubenv.js';
import { parseConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';

let dir: string;
let opts: Parameters<typeof sandboxBoot>[0];

async function image(version: number, damaged = false): Promise<void> {
  const root = join(dir, `root-${version}`);
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'version'), `${version}\n`);
  const img = join(dir, 'host', 'images', `${version}.img`);
  await execa('mkfs.ext4', ['-q', '-F', '-d', root, img, '4M']);
  // Zeroing the primary superblock is damage e2fsck -n cannot repair in place: exit code 8.
  if (damaged) await execa('dd', ['if=/dev/zero', `of=${img}`, 'bs=1024', 'seek=1', 'count=1', 'conv=notrunc']);
}

function booted(): string {
  return readFileSync(opts.cmdlineFile, 'utf8');
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ua-sbboot-'));
  mkdirSync(join(dir, 'host', 'images'), { recursive: true });
  mkdirSync(join(dir, 'host', 'boot', 'grub'), { recursive: true });
  const config = parseConfig({ deviceId: 'd', hardware: 'h', zfs: { pool: 'p' }, paths: { hostRoot: join(dir, 'host') } });
  await image(2);
  await image(3);
  writeGrubCfg(config.paths.grubDir, renderGrubCfg({ config }, 2));
  opts = {
    grubDir: config.paths.grubDir, imagesDir: config.paths.imagesDir, cmdlineFile: join(dir, 'cmdline'), bootIdFile: join(dir, 'boot_id'),
    kernelRoot: '/dev/vda1', imageParam: 'ua.image', imagesPath: '/images', panicSec: 10,
  };
});

describe('sandbox boot through our grub.cfg', () => {
  it('takes the armed trial once; the next boot without confirmation is the committed image', async () => {
    armTrial(opts.grubDir, 3);
    expect((await sandboxBoot(opts)).version).toBe(3);
    expect(booted()).toContain('ua.image=/images/3.img');
    expect(readTrial(opts.grubDir)).toBeNull();
    const first = readFileSync(opts.bootIdFile, 'utf8');
    expect((await sandboxBoot(opts)).version).toBe(2);
    expect(readFileSync(opts.bootIdFile, 'utf8')).not.toBe(first);
  });

  it('a garbled grubenv boots the committed image', async () => {
    armTrial(opts.grubDir, 3);
    writeFileSync(join(opts.grubDir, 'grubenv'), randomBytes(1024));
    expect((await sandboxBoot(opts)).version).toBe(2);
  });

  it('a truncated grubenv boots the committed image', async () => {
    armTrial(opts.grubDir, 3);
    truncateSync(join(opts.grubDir, 'grubenv'), 500);
    expect((await sandboxBoot(opts)).version).toBe(2);
  });

  it('a missing trial image file falls back to the committed entry', async () => {
    armTrial(opts.grubDir, 3);
    rmSync(join(opts.imagesDir, '3.img'));
    const r = await sandboxBoot(opts);
    expect(r.version).toBe(2);
    expect(r.via).toBe('fallback');
  });

  it('a damaged trial image panics in the initramfs and the next power cycle boots the committed image', async () => {
    await image(3, true);
    armTrial(opts.grubDir, 3);
    const r = await sandboxBoot(opts);
    expect(r.attempts.map((a) => [a.version, a.problem === null])).toEqual([[3, false], [2, true]]);
    expect(r.version).toBe(2);
  });

  it('the rebooter adapter boots, then powers off through the injected hook', async () => {
    armTrial(opts.grubDir, 3);
    class PoweredOff extends Error {}
    const r = new SandboxRebooter({ ...opts, log: silentLogger(), powerOff: () => { throw new PoweredOff(); } });
    await expect(r.reboot('test')).rejects.toBeInstanceOf(PoweredOff);
    expect(booted()).toContain('ua.image=/images/3.img');
  });
});
