// Grub's pre-flight: grubenv filesystem rules (on the parsed and the real mount table), panic= present in the entry.
import { describe, it, expect } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMounts, readMounts } from '../../src/util/proc-mounts.js';
import { mountOf, grubenvFsProblem, checkGrubenvWritable, checkEntryHasPanic } from '../../src/boot/grub-checks.js';

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
    expect(() => checkGrubenvWritable(dir, readMounts())).not.toThrow();
    expect(() => checkGrubenvWritable('/host/zboot/grub', mounts)).toThrow(/zfs/);
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
