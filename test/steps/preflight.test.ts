// Pre-flight checks: grubenv filesystem rules, boot files inside an image root (symlinks confined), panic= present.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMounts } from '../../src/util/proc-mounts.js';
import { mountOf, grubenvFsProblem, checkGrubenvWritable, resolveInRoot, checkBootFiles, checkEntryHasPanic } from '../../src/steps/preflight.js';

const MOUNTS = [
  '/dev/vda1 / ext4 rw 0 0',
  '/dev/vda1 /host ext4 rw 0 0',
  'tank/boot /host/zboot zfs rw 0 0',
  '/dev/md0 /host/raid ext4 rw 0 0',
  '/dev/mapper/vg-boot /host/lvm ext4 rw 0 0',
  '/dev/vdb1 /host/with\\040space vfat rw 0 0',
].join('\n');

describe('grubenv filesystem', () => {
  const mounts = parseMounts(MOUNTS);
  it('finds the longest mount and decodes escapes', () => {
    expect(mountOf('/host/boot/grub', mounts)?.target).toBe('/host');
    expect(mountOf('/host/with space/grub', mounts)?.fstype).toBe('vfat');
  });
  it('accepts plain filesystems and refuses ZFS, RAID and LVM', () => {
    expect(grubenvFsProblem(mountOf('/host/boot/grub', mounts))).toBeNull();
    expect(grubenvFsProblem(mountOf('/host/zboot/grub', mounts))).toMatch(/zfs/);
    expect(grubenvFsProblem(mountOf('/host/raid/grub', mounts))).toMatch(/RAID/);
    expect(grubenvFsProblem(mountOf('/host/lvm/grub', mounts))).toMatch(/LVM/);
  });
  it('checks the real mount table of a directory on this machine', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ua-pf-'));
    expect(() => checkGrubenvWritable(dir)).not.toThrow();
    expect(() => checkGrubenvWritable('/host/zboot/grub', MOUNTS)).toThrow(/zfs/);
  });
});

describe('boot files inside an image', () => {
  it('follows symlinks the way the image sees them, never out of it', () => {
    const root = mkdtempSync(join(tmpdir(), 'ua-pf-root-'));
    mkdirSync(join(root, 'boot'));
    writeFileSync(join(root, 'boot', 'vmlinuz-6.1'), 'kernel');
    writeFileSync(join(root, 'boot', 'initrd.img-6.1'), 'initrd');
    symlinkSync('boot/vmlinuz-6.1', join(root, 'vmlinuz'));
    symlinkSync('/boot/initrd.img-6.1', join(root, 'initrd.img'));
    expect(resolveInRoot(root, '/vmlinuz')).toBe(join(root, 'boot/vmlinuz-6.1'));
    expect(resolveInRoot(root, '/initrd.img')).toBe(join(root, 'boot/initrd.img-6.1'));
    expect(() => checkBootFiles(root)).not.toThrow();
    symlinkSync('../../../../etc/hostname', join(root, 'escape'));
    expect(resolveInRoot(root, '/escape')).toBeNull();
  });
  it('refuses a missing or empty kernel', () => {
    const root = mkdtempSync(join(tmpdir(), 'ua-pf-root-'));
    writeFileSync(join(root, 'vmlinuz'), '');
    writeFileSync(join(root, 'initrd.img'), 'x');
    expect(() => checkBootFiles(root)).toThrow(/vmlinuz/);
    expect(() => checkBootFiles(root, ['/initrd.img', '/nope'])).toThrow(/nope/);
  });
});

describe('panic= in the entry', () => {
  it('finds it only in the entry of that version', () => {
    const cfg = "menuentry 'a' --id img-2 {\n linux (loop)/vmlinuz root=/dev/vda1 panic=10\n}\nmenuentry 'b' --id img-3 {\n linux (loop)/vmlinuz root=/dev/vda1\n}\n";
    expect(() => checkEntryHasPanic(cfg, 2)).not.toThrow();
    expect(() => checkEntryHasPanic(cfg, 3)).toThrow(/panic/);
    expect(() => checkEntryHasPanic(cfg, 4)).toThrow(/panic/);
  });
});
