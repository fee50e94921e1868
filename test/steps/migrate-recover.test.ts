// recoverInterruptedImage on real ext4 images: what a power cut in the middle of a migration leaves, made mountable again.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { migrateIntoImage, recoverInterruptedImage } from '../../src/steps/migrate.js';
import { E2fsck } from '../../src/adapters/fsck.js';
import { e2fsckClean, makeFactoryImage, makeSource, mountsUnder, sandbox, withMounted, type Sandbox } from './migrate-fixture.js';

let sb: Sandbox;
let img: string;
const log = silentLogger();
const deps = () => ({ mounter: sb.mounter, fsck: new E2fsck(), log });
const needsRecovery = async (p: string) => /needs_recovery/.test((await execa('dumpe2fs', ['-h', p], { reject: false })).stdout);

beforeEach(async () => {
  sb = sandbox('migrate-recover');
  img = await makeFactoryImage(sb);
});

afterEach(async () => {
  await sb.cleanup();
});

/**
 * The bytes a power cut leaves: the image is copied while mounted read-write and being written, so the copy
 * carries `needs_recovery` and whatever the journal had not yet checkpointed, as the disk would after the cut.
 */
async function cutMidMigration(): Promise<string> {
  const mp = join(sb.dir, 'writing');
  mkdirSync(mp);
  await execa('mount', ['-t', 'ext4', '-o', 'loop', img, mp]);
  try {
    writeFileSync(join(mp, 'etc/hostname'), 'device-1\n');
    writeFileSync(join(mp, 'etc/half-copied.conf'), randomBytes(256 * 1024));
    await execa('sync', ['-f', mp]);
    const cut = join(sb.dir, 'cut.img');
    copyFileSync(img, cut);
    return cut;
  } finally {
    await execa('umount', [mp]);
  }
}

describe('recoverInterruptedImage', () => {
  it('an image cut mid-migration cannot even be mounted read-only; recovered, it mounts and the migration completes', async () => {
    const cut = await cutMidMigration();
    expect(await needsRecovery(cut)).toBe(true);
    // What the switch's pre-flight met after a real power cut (found by the QEMU suite): the kernel refuses.
    await expect(withMounted(sb, cut, async () => undefined, true)).rejects.toMatchObject({ code: 'E_MIGRATE_MOUNT' });

    const r = await recoverInterruptedImage(deps(), cut);
    expect(r.fsckExit).toBeLessThanOrEqual(2);
    expect(r.recoveredMounts).toEqual([]);
    expect(await needsRecovery(cut)).toBe(false);
    expect(await e2fsckClean(cut)).toBe(true);
    // The journal was replayed, not thrown away: what the cut-off run had written is there.
    expect(await withMounted(sb, cut, async (mp) => readFileSync(join(mp, 'etc/hostname'), 'utf8'), true)).toBe('device-1\n');

    const src = await makeSource(sb.dir);
    const report = await migrateIntoImage(deps(), { imagePath: cut, sourceRoot: src, allow: ['/etc/hostname'], dryRun: false });
    expect(report.fsck).toBe('clean');
    expect(mountsUnder(sb.dir)).toEqual([]);
  });

  it('a mount of the image left by a killed run in our runtime dir is released before e2fsck runs', async () => {
    const dir = join(sb.runtimeDir, 'ua-migrate-killed');
    const stale = join(dir, 'root');
    mkdirSync(stale, { recursive: true });
    await execa('mount', ['-t', 'ext4', '-o', 'loop', img, stale]);
    writeFileSync(join(stale, 'etc/hostname'), 'device-2\n');

    const r = await recoverInterruptedImage(deps(), img);
    expect(r.recoveredMounts).toEqual([stale]);
    expect(mountsUnder(sb.dir)).toEqual([]);
    expect(await e2fsckClean(img)).toBe(true);
  });

  it('refuses an image mounted elsewhere (e2fsck on a mounted filesystem corrupts it), and one e2fsck cannot repair', async () => {
    const elsewhere = join(sb.dir, 'elsewhere');
    mkdirSync(elsewhere);
    await execa('mount', ['-t', 'ext4', '-o', 'loop,ro', img, elsewhere]);
    try {
      await expect(recoverInterruptedImage(deps(), img)).rejects.toMatchObject({ code: 'E_MIGRATE_IMAGE_BUSY' });
    } finally {
      await execa('umount', [elsewhere]);
    }
    const garbage = join(sb.dir, 'garbage.img');
    writeFileSync(garbage, randomBytes(4 << 20));
    await expect(recoverInterruptedImage(deps(), garbage)).rejects.toMatchObject({ code: 'E_MIGRATE_FSCK' });
  });
});
