// migrateIntoImage end to end on loop-mounted ext4 images: dry run, apply + fsck, idempotence, crash recovery.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { applyMigration, checkImageClean, migrateIntoImage, planMigration, type MigrateOptions } from '../../src/steps/migrate.js';
import { E2fsck } from '../../src/adapters/fsck.js';
import { debugfsStat, e2fsckClean, makeFactoryImage, makeImage, makeSource, mountsUnder, sandbox, sha256File, T0, type Sandbox } from './migrate-fixture.js';

let sb: Sandbox;
let src: string;
let img: string;
const log = silentLogger();
const ALLOW = ['/etc/ssh/ssh_host_*_key*', '/etc/**/*.conf', '/etc/hostname', '/etc/localtime', '/var/lib/app', '/etc/not-here'];
const DENY = ['/etc/ssh/ssh_host_rsa_key', '/etc/shadow'];

beforeEach(async () => {
  sb = sandbox('migrate');
  src = await makeSource(sb.dir);
  img = await makeFactoryImage(sb);
});

afterEach(async () => {
  await sb.cleanup();
});

const opts = (over: Partial<MigrateOptions> = {}): MigrateOptions => ({ imagePath: img, sourceRoot: src, allow: ALLOW, deny: DENY, dryRun: false, ...over });
const deps = (): Parameters<typeof migrateIntoImage>[0] => ({ mounter: sb.mounter, fsck: new E2fsck(), log });
const leftovers = (): string[] => readdirSync(sb.runtimeDir);

describe('migrateIntoImage', () => {
  it('dry run: reports the plan, mounts read-only, and leaves the image byte-for-byte identical', async () => {
    const before = sha256File(img);
    const report = await migrateIntoImage(deps(), opts({ dryRun: true }));
    expect(report.applied).toBeNull();
    expect(report.counts).toEqual({ create: 14, update: 1, unchanged: 0, skip: 0, 'absent-in-source': 1 });
    expect(report.entries.find((e) => e.path === '/etc/hostname')?.reasons).toContain('size');
    expect(report.denied).toEqual(['/etc/ssh/ssh_host_rsa_key']);
    expect(sha256File(img)).toBe(before);
    expect(mountsUnder(sb.dir)).toEqual([]);
    expect(leftovers()).toEqual([]);
  });

  it('applies, syncs, unmounts and proves the image clean; a second run finds everything unchanged', async () => {
    const report = await migrateIntoImage(deps(), opts());
    expect(report.fsck).toBe('clean');
    expect(report.applied).toEqual({ files: 8, symlinks: 1, dirs: 6 });
    expect(mountsUnder(sb.dir)).toEqual([]);
    expect(leftovers()).toEqual([]);
    expect(await e2fsckClean(img)).toBe(true);
    const t0 = Math.floor(T0.getTime() / 1000);
    expect(await debugfsStat(img, '/etc/ssh/ssh_host_ed25519_key')).toMatchObject({ type: 'regular', mode: 0o600, uid: 0, mtime: t0 });
    expect(await debugfsStat(img, '/etc/app')).toMatchObject({ type: 'directory', mode: 0o750, uid: 1234, gid: 5678, mtime: t0 });
    expect(await debugfsStat(img, '/etc/localtime')).toMatchObject({ type: 'symlink', fastLink: '/usr/share/zoneinfo/UTC', mtime: t0 });
    const { stdout } = await execa('debugfs', ['-R', 'cat /etc/hostname', img]);
    expect(stdout).toBe('device-1');

    const again = await migrateIntoImage(deps(), opts());
    expect(again.counts).toEqual({ create: 0, update: 0, unchanged: 10, skip: 0, 'absent-in-source': 1 });
    expect(again.applied).toEqual({ files: 0, symlinks: 0, dirs: 0 });
    expect(await e2fsckClean(img)).toBe(true);
  });

  it('after kill -9 left the image mounted under the runtime dir: unmounts the leftover, then completes', async () => {
    // What a killed run leaves: our private dir, the image mounted on it, a half-written temporary file inside.
    const dir = mkdtempSync(join(sb.runtimeDir, 'ua-migrate-'));
    const stale = join(dir, 'root');
    mkdirSync(stale);
    await execa('mount', ['-t', 'ext4', '-o', 'loop', img, stale]);
    writeFileSync(join(stale, 'etc/.hostname.ua-migrate'), 'half');
    mkdirSync(join(sb.runtimeDir, 'ua-migrate-empty1', 'root'), { recursive: true }); // killed before mounting

    const report = await migrateIntoImage(deps(), opts());
    expect(report.recoveredMounts).toEqual([stale]);
    expect(report.counts.create + report.counts.update).toBe(15);
    expect(mountsUnder(sb.dir)).toEqual([]);
    expect(leftovers()).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expect((await execa('losetup', ['-j', img])).stdout).toBe(''); // loop device released (autoclear)
    await expect(execa('debugfs', ['-R', 'stat /etc/.hostname.ua-migrate', img])).resolves.toMatchObject({ stderr: expect.stringMatching(/not found/) });
    expect((await migrateIntoImage(deps(), opts())).counts.unchanged).toBe(10);
  });

  it('refuses an image mounted elsewhere (a second rw mount would corrupt it), touching nothing', async () => {
    const elsewhere = join(sb.dir, 'elsewhere');
    mkdirSync(elsewhere);
    await execa('mount', ['-t', 'ext4', '-o', 'loop,ro', img, elsewhere]);
    try {
      await expect(migrateIntoImage(deps(), opts())).rejects.toMatchObject({ code: 'E_MIGRATE_IMAGE_BUSY' });
      expect(mountsUnder(sb.runtimeDir)).toEqual([]);
    } finally {
      await execa('umount', [elsewhere]);
    }
  });

  it('a missing image or a bad pattern fails before mounting anything', async () => {
    await expect(migrateIntoImage(deps(), opts({ imagePath: join(sb.dir, 'nope.img') }))).rejects.toMatchObject({ code: 'E_MIGRATE_NO_IMAGE' });
    await expect(migrateIntoImage(deps(), opts({ allow: ['/etc/../../x'] }))).rejects.toMatchObject({ code: 'E_MIGRATE_PATH' });
    expect(leftovers()).toEqual([]);
  });

  it('checkImageClean reports a corrupt image as E_MIGRATE_FSCK', async () => {
    await checkImageClean(new E2fsck(), img);
    await execa('debugfs', ['-w', '-R', 'clri /etc/hostname', img]); // a directory entry now names a cleared inode
    await expect(checkImageClean(new E2fsck(), img)).rejects.toMatchObject({ code: 'E_MIGRATE_FSCK' });
  });
});

describe('symlinks in the target image never lead outside it', () => {
  let outside: string;
  const untouched = (): void => {
    expect(readdirSync(outside)).toEqual(['canary']);
  };

  beforeEach(() => {
    outside = join(sb.dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'canary'), 'keep');
  });

  const imageWith = async (setup: (base: string) => void): Promise<string> => {
    const base = join(sb.dir, 'evil');
    mkdirSync(base);
    setup(base);
    return makeImage(join(sb.dir, 'evil.img'), base);
  };

  it('/etc -> an outside directory: files below it are refused with E_MIGRATE_UNSAFE_PATH', async () => {
    img = await imageWith((b) => symlinkSync(outside, join(b, 'etc')));
    await expect(migrateIntoImage(deps(), opts())).rejects.toMatchObject({ code: 'E_MIGRATE_UNSAFE_PATH' });
    untouched();
    expect(mountsUnder(sb.dir)).toEqual([]); // unmounted although the step failed
    expect(leftovers()).toEqual([]);
    expect(await e2fsckClean(img)).toBe(true);
  });

  it('/etc -> /: the directory itself is a conflict, skipped, nothing written', async () => {
    img = await imageWith((b) => symlinkSync('/', join(b, 'etc')));
    const hostEtc = lstatSync('/etc').mtimeMs;
    const report = await migrateIntoImage(deps(), opts({ allow: ['/etc'] }));
    expect(report.entries).toEqual([{ path: '/etc', kind: 'dir', action: 'skip', reasons: ['conflict: source is a dir, target is a symlink'] }]);
    expect(report.applied).toEqual({ files: 0, symlinks: 0, dirs: 0 });
    expect(lstatSync('/etc').mtimeMs).toBe(hostEtc); // the host's own /etc saw no create, rename or delete
    expect(existsSync('/etc/top.conf') || existsSync('/etc/app/sub/deep.conf')).toBe(false);
  });

  it('a deeper symlinked directory (/etc/ssh -> outside) is refused too; relative links are no different', async () => {
    img = await imageWith((b) => {
      mkdirSync(join(b, 'etc'));
      symlinkSync(`../../../../../../../../..${outside}`, join(b, 'etc/ssh'));
    });
    await expect(migrateIntoImage(deps(), opts({ allow: ['/etc/ssh/sshd_config'] }))).rejects.toMatchObject({ code: 'E_MIGRATE_UNSAFE_PATH' });
    untouched();
    expect(mountsUnder(sb.dir)).toEqual([]);
  });

  it('a symlink swapped in after planning is caught by apply before the write', async () => {
    img = await imageWith((b) => mkdirSync(join(b, 'etc/ssh'), { recursive: true }));
    const mp = await sb.mounter.makeMountpoint();
    await sb.mounter.mount(img, mp, { readOnly: false });
    try {
      for (const allow of ['/etc/ssh/sshd_config', '/etc/ssh']) {
        rmSync(join(mp, 'etc/ssh'), { recursive: true, force: true });
        mkdirSync(join(mp, 'etc/ssh'));
        const plan = await planMigration({ sourceRoot: src, allow: [allow] }, mp);
        expect(plan.entries.length).toBeGreaterThan(0);
        rmSync(join(mp, 'etc/ssh'), { recursive: true });
        symlinkSync(outside, join(mp, 'etc/ssh'));
        await expect(applyMigration(plan, src, mp)).rejects.toMatchObject({ code: 'E_MIGRATE_UNSAFE_PATH' });
        untouched();
      }
    } finally {
      await sb.mounter.unmount(mp);
    }
  });
});
