// The appliance's disks as raw files: the outer disk (dos label, ext4 partition, Grub i386-pc in the MBR), small ext4 disks, and debugfs access.
import { closeSync, copyFileSync, mkdirSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

/** The outer partition starts at 1 MiB: Grub's core.img lives in the gap before it. */
export const PART_OFFSET = 1 << 20;
const GRUB_PC = '/usr/lib/grub/i386-pc';

/** `disk.raw?offset=N`: how e2fsprogs address a filesystem inside a partitioned disk file. */
export const partitionSpec = (disk: string): string => `${disk}?offset=${PART_OFFSET}`;

/** Copies Grub's i386-pc modules where core.img's prefix points, so `insmod loopback` etc. work at boot. */
export function installGrubModules(outerTree: string): void {
  const dir = join(outerTree, 'boot/grub/i386-pc');
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(GRUB_PC)) if (/\.(mod|lst)$/.test(f)) copyFileSync(join(GRUB_PC, f), join(dir, f));
}

/**
 * Builds `disk` from `outerTree` without mounting anything: sfdisk a dos label with one bootable partition at 1 MiB,
 * mkfs.ext4 -d the tree into it, Grub's boot.img (440 bytes) into the MBR and core.img from sector 1.
 */
export async function makeOuterDisk(disk: string, outerTree: string, sizeMiB: number, workDir: string): Promise<void> {
  await execa('truncate', ['-s', '0', disk]);
  await execa('truncate', ['-s', `${sizeMiB}M`, disk]);
  await execa('sfdisk', ['--quiet', disk], { input: 'label: dos\nstart=2048, type=83, bootable\n' });
  const partKiB = (sizeMiB - 1) * 1024;
  await execa('mkfs.ext4', ['-q', '-F', '-L', 'outer', '-E', `offset=${PART_OFFSET}`, '-d', outerTree, disk, `${partKiB}k`]);
  const core = join(workDir, 'core.img');
  await execa('grub-mkimage', ['-O', 'i386-pc', '-p', '(hd0,msdos1)/boot/grub', '-o', core, 'biosdisk', 'part_msdos', 'ext2']);
  if (statSync(core).size > PART_OFFSET - 512) throw new Error('core.img does not fit before the partition');
  await execa('dd', [`if=${GRUB_PC}/boot.img`, `of=${disk}`, 'bs=440', 'count=1', 'conv=notrunc', 'status=none']);
  await execa('dd', [`if=${core}`, `of=${disk}`, 'bs=512', 'seek=1', 'conv=notrunc', 'status=none']);
}

/** A whole-disk ext4 (no partition table) holding `tree`. */
export async function makeExt4Disk(disk: string, tree: string, sizeMiB: number): Promise<void> {
  await execa('rm', ['-f', disk]);
  await execa('mkfs.ext4', ['-q', '-F', '-d', tree, disk, `${sizeMiB}M`]);
}

/** A tiny raw disk with `text` at offset 0, padded with NULs: the boot plan the guest reads from /dev/vdd. */
export function makePlanDisk(disk: string, text: string): void {
  const buf = Buffer.alloc(64 * 1024);
  buf.write(text, 'utf8');
  const fd = openSync(disk, 'w');
  try {
    writeSync(fd, buf);
  } finally {
    closeSync(fd);
  }
}

/** A file of the outer partition, read with debugfs; null when it does not exist. */
export async function readOuterFile(disk: string, path: string): Promise<Buffer | null> {
  const r = await execa('debugfs', ['-R', `cat ${path}`, partitionSpec(disk)], { encoding: 'buffer', reject: false });
  const err = Buffer.from(r.stderr).toString('utf8');
  if (/File not found/.test(err)) return null;
  if (r.exitCode !== 0) throw new Error(`debugfs cat ${path}: ${err}`);
  return Buffer.from(r.stdout);
}

/** Replaces a file of the outer partition with `local`'s bytes (debugfs rm + write: a new inode, as a rename would give). */
export async function writeOuterFile(disk: string, local: string, path: string): Promise<void> {
  const r = await execa('debugfs', ['-w', '-f', '-', partitionSpec(disk)], { input: `rm ${path}\nwrite ${local} ${path}\n`, all: true });
  if (/cannot|error/i.test(r.all ?? '')) throw new Error(`debugfs write ${path}: ${r.all}`);
}

/** e2fsck -fn of the outer partition: exit code and output (0 = clean). */
export async function checkOuterFs(disk: string): Promise<{ exitCode: number; output: string }> {
  const r = await execa('e2fsck', ['-fn', partitionSpec(disk)], { reject: false, all: true });
  return { exitCode: r.exitCode ?? -1, output: r.all ?? '' };
}
