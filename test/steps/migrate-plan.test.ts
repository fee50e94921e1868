// planMigration + applyMigration against real, loop-mounted ext4 images: reasons, globs, deny, metadata, idempotence.
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { lutimes, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyMigration } from '../../src/steps/migrate-apply.js';
import { PARENT_REASON, planMigration, type MigrationPlan, type PlanEntry } from '../../src/steps/migrate-plan.js';
import { copyTree, debugfsStat, e2fsckClean, fixTimes, makeImage, makeSource, mountsUnder, sandbox, T0, T1, withMounted, type Sandbox } from './migrate-fixture.js';

let sb: Sandbox;
let src: string;

beforeEach(async () => {
  sb = sandbox('migrate-plan');
  src = await makeSource(sb.dir);
});

afterEach(async () => {
  await sb.cleanup();
});

const byPath = (plan: MigrationPlan): Record<string, Pick<PlanEntry, 'action' | 'reasons' | 'kind'>> =>
  Object.fromEntries(plan.entries.map((e) => [e.path, { action: e.action, reasons: e.reasons, kind: e.kind }]));
const pending = (plan: MigrationPlan): PlanEntry[] => plan.entries.filter((e) => e.action === 'create' || e.action === 'update');
const t0 = Math.floor(T0.getTime() / 1000);

describe('planMigration', () => {
  it('lists create / update (content, size, mode, owner, mtime, symlink target) / unchanged / absent-in-source', async () => {
    const base = await copyTree(src, join(sb.dir, 'base'));
    writeFileSync(join(base, 'etc/hostname'), 'device-X\n'); // same size, other bytes
    writeFileSync(join(base, 'etc/ssh/sshd_config'), 'Port 2222\n');
    chmodSync(join(base, 'etc/ssh/ssh_host_ed25519_key'), 0o644);
    unlinkSync(join(base, 'etc/app/sub/deep.conf'));
    unlinkSync(join(base, 'etc/alt'));
    symlinkSync('bbb', join(base, 'etc/alt'));
    await fixTimes(base);
    await utimes(join(base, 'etc/other.txt'), T1, T1);
    const img = await makeImage(join(sb.dir, 't.img'), base);
    chownSync(join(src, 'etc/app/app.conf'), 1234, 5678); // owner change on the source side; mtime untouched

    const allow = ['/etc/hostname', '/etc/ssh', '/etc/app', '/etc/other.txt', '/etc/localtime', '/etc/alt', '/etc/missing.conf', '/nope/**/*.x'];
    const plan = await withMounted(sb, img, (mp) => planMigration({ sourceRoot: src, allow }, mp), true);
    expect(byPath(plan)).toEqual({
      '/etc/alt': { kind: 'symlink', action: 'update', reasons: ['symlink target'] },
      '/etc/app': { kind: 'dir', action: 'unchanged', reasons: [] },
      '/etc/app/app.conf': { kind: 'file', action: 'update', reasons: ['owner'] },
      '/etc/app/sub': { kind: 'dir', action: 'unchanged', reasons: [] },
      '/etc/app/sub/deep.conf': { kind: 'file', action: 'create', reasons: ['missing in target'] },
      '/etc/hostname': { kind: 'file', action: 'update', reasons: ['content'] },
      '/etc/localtime': { kind: 'symlink', action: 'unchanged', reasons: [] },
      '/etc/missing.conf': { kind: 'none', action: 'absent-in-source', reasons: ['not in source'] },
      '/etc/other.txt': { kind: 'file', action: 'update', reasons: ['mtime'] },
      '/etc/ssh': { kind: 'dir', action: 'unchanged', reasons: [] },
      '/etc/ssh/ssh_host_ed25519_key': { kind: 'file', action: 'update', reasons: ['mode'] },
      '/etc/ssh/ssh_host_ed25519_key.pub': { kind: 'file', action: 'unchanged', reasons: [] },
      '/etc/ssh/ssh_host_rsa_key': { kind: 'file', action: 'unchanged', reasons: [] },
      '/etc/ssh/ssh_host_rsa_key.pub': { kind: 'file', action: 'unchanged', reasons: [] },
      '/etc/ssh/sshd_config': { kind: 'file', action: 'update', reasons: ['size'] },
      '/nope/**/*.x': { kind: 'none', action: 'absent-in-source', reasons: ['pattern matched nothing'] },
    });
    expect(plan.entries.map((e) => e.path)).toEqual(Object.keys(byPath(plan)).sort()); // parents before children
  });

  it('globs select files at any depth; deny wins over allow (and a denied directory hides its contents)', async () => {
    const img = await makeImage(join(sb.dir, 'empty.img'), null);
    const plan = await withMounted(sb, img, (mp) =>
      planMigration({
        sourceRoot: src,
        allow: ['/etc/ssh/ssh_host_*_key*', '/etc/**/*.conf', '/etc/shadow'],
        deny: ['/etc/ssh/ssh_host_rsa_key', '/etc/app/sub', '/etc/shadow'],
      }, mp), true);
    expect(byPath(plan)).toEqual({
      '/etc': { kind: 'dir', action: 'create', reasons: [PARENT_REASON] },
      '/etc/app': { kind: 'dir', action: 'create', reasons: [PARENT_REASON] },
      '/etc/app/app.conf': { kind: 'file', action: 'create', reasons: ['missing in target'] },
      '/etc/ssh': { kind: 'dir', action: 'create', reasons: [PARENT_REASON] },
      '/etc/ssh/ssh_host_ed25519_key': { kind: 'file', action: 'create', reasons: ['missing in target'] },
      '/etc/ssh/ssh_host_ed25519_key.pub': { kind: 'file', action: 'create', reasons: ['missing in target'] },
      '/etc/ssh/ssh_host_rsa_key.pub': { kind: 'file', action: 'create', reasons: ['missing in target'] },
      '/etc/top.conf': { kind: 'file', action: 'create', reasons: ['missing in target'] },
    });
    expect(plan.denied).toEqual(['/etc/app/sub', '/etc/shadow', '/etc/ssh/ssh_host_rsa_key']);
  });

  it('a directory first seen as a missing parent is still planned whole when allowed itself', async () => {
    const img = await makeImage(join(sb.dir, 'empty.img'), null);
    const plan = await withMounted(sb, img, (mp) => planMigration({ sourceRoot: src, allow: ['/etc/ssh/sshd_config', '/etc/ssh'] }, mp), true);
    const e = byPath(plan);
    expect(e['/etc']?.reasons).toEqual([PARENT_REASON]);
    expect(e['/etc/ssh']?.reasons).toEqual(['missing in target']);
    expect(Object.keys(e).filter((p) => p.startsWith('/etc/ssh/'))).toHaveLength(5);
  });

  it('skips special files and type conflicts with a reason; rejects bad patterns before reading anything', async () => {
    await execa('mkfifo', [join(src, 'etc/app/fifo')]);
    await execa('mknod', [join(src, 'etc/app/null'), 'c', '1', '3']);
    const base = await copyTree(src, join(sb.dir, 'base'));
    rmSync(join(base, 'etc/app/fifo'));
    rmSync(join(base, 'etc/app/null'));
    mkdirSync(join(base, 'etc/hostname.d'));
    writeFileSync(join(base, 'etc/ssh.d'), 'file where the source has a directory');
    mkdirSync(join(src, 'etc/ssh.d'));
    writeFileSync(join(src, 'etc/hostname.d'), 'file where the target has a directory');
    const img = await makeImage(join(sb.dir, 't.img'), base);
    mkdirSync(join(src, 'etc/app/mnt'));
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', join(src, 'etc/app/mnt')]); // like /proc or /run under a walked tree
    writeFileSync(join(src, 'etc/app/mnt/x'), 'not ours');
    const plan = await withMounted(sb, img, (mp) => planMigration({ sourceRoot: src, allow: ['/etc/app', '/etc/hostname.d', '/etc/ssh.d'] }, mp), true);
    const e = byPath(plan);
    expect(e['/etc/app/mnt']).toEqual({ kind: 'dir', action: 'skip', reasons: ['mount point (another filesystem)'] });
    expect(e['/etc/app/mnt/x']).toBeUndefined();
    expect(e['/etc/app/fifo']).toEqual({ kind: 'special', action: 'skip', reasons: ['special file (fifo)'] });
    expect(e['/etc/app/null']).toEqual({ kind: 'special', action: 'skip', reasons: ['special file (character device)'] });
    expect(e['/etc/hostname.d']).toEqual({ kind: 'file', action: 'skip', reasons: ['conflict: source is a file, target is a dir'] });
    expect(e['/etc/ssh.d']).toEqual({ kind: 'dir', action: 'skip', reasons: ['conflict: source is a dir, target is a file'] });
    await expect(planMigration({ sourceRoot: src, allow: ['/etc/../root'] }, sb.dir)).rejects.toMatchObject({ code: 'E_MIGRATE_PATH' });
    await expect(planMigration({ sourceRoot: src, allow: ['etc'] }, sb.dir)).rejects.toMatchObject({ code: 'E_MIGRATE_PATH' });
  });
});

describe('applyMigration', () => {
  it('preserves owner, mode, mtime and symlinks; creates parents like the source; a fresh plan is all unchanged', async () => {
    const img = await makeImage(join(sb.dir, 'empty.img'), null);
    chownSync(join(src, 'etc/ssh/ssh_host_ed25519_key'), 1234, 5678);
    chmodSync(join(src, 'etc/ssh/ssh_host_ed25519_key'), 0o4750); // setuid survives: chown happens before chmod
    await lutimes(join(src, 'etc/ssh/ssh_host_ed25519_key'), T1, T1);
    await lutimes(join(src, 'etc/localtime'), T1, T1);
    const allow = ['/etc/ssh/ssh_host_*_key*', '/etc/app', '/etc/localtime', '/var/lib/app', '/etc/missing'];

    await withMounted(sb, img, async (mp) => {
      const plan = await planMigration({ sourceRoot: src, allow, deny: ['/etc/ssh/ssh_host_rsa_key'] }, mp);
      expect(pending(plan).length).toBe(14);
      expect(await applyMigration(plan, src, mp)).toEqual({ files: 6, symlinks: 1, dirs: 7 });

      const key = lstatSync(join(mp, 'etc/ssh/ssh_host_ed25519_key'));
      expect([key.uid, key.gid, key.mode & 0o7777, key.mtimeMs]).toEqual([1234, 5678, 0o4750, T1.getTime()]);
      const app = lstatSync(join(mp, 'etc/app'));
      expect([app.uid, app.gid, app.mode & 0o7777, app.mtimeMs]).toEqual([1234, 5678, 0o750, T0.getTime()]);
      expect(readlinkSync(join(mp, 'etc/localtime'))).toBe('/usr/share/zoneinfo/UTC');
      expect(lstatSync(join(mp, 'etc/localtime')).mtimeMs).toBe(T1.getTime());
      expect(readFileSync(join(mp, 'var/lib/app/state'), 'utf8')).toBe('x'.repeat(100_000));
      expect(() => lstatSync(join(mp, 'etc/ssh/ssh_host_rsa_key'))).toThrow(/ENOENT/);

      const again = await planMigration({ sourceRoot: src, allow, deny: ['/etc/ssh/ssh_host_rsa_key'] }, mp);
      expect(pending(again)).toEqual([]);
      expect(again.entries.filter((e) => e.action !== 'unchanged').map((e) => e.path)).toEqual(['/etc/missing']);
      expect(await applyMigration(again, src, mp)).toEqual({ files: 0, symlinks: 0, dirs: 0 });
    });

    // Read back from the unmounted image without the kernel, and prove it clean.
    expect(await debugfsStat(img, '/etc/ssh/ssh_host_ed25519_key')).toMatchObject({ type: 'regular', mode: 0o4750, uid: 1234, gid: 5678, mtime: Math.floor(T1.getTime() / 1000) });
    expect(await debugfsStat(img, '/etc/localtime')).toMatchObject({ type: 'symlink', fastLink: '/usr/share/zoneinfo/UTC', uid: 0, mtime: Math.floor(T1.getTime() / 1000) });
    expect(await debugfsStat(img, '/etc/app/sub')).toMatchObject({ type: 'directory', mtime: t0 });
    expect(await e2fsckClean(img)).toBe(true);
  });

  it('overwrites a file (and a symlink in the target) atomically by rename, leaving no temporary names', async () => {
    const outside = join(sb.dir, 'outside');
    mkdirSync(outside);
    const base = await copyTree(src, join(sb.dir, 'base'));
    rmSync(join(base, 'etc/hostname'));
    symlinkSync(join(outside, 'hostname'), join(base, 'etc/hostname')); // the image's entry itself points outside
    writeFileSync(join(base, 'etc/other.txt'), 'older\n');
    writeFileSync(join(base, 'etc/.top.conf.ua-migrate'), 'half-written by a killed run');
    writeFileSync(join(src, 'etc/top.conf'), 'top=2\n');
    const img = await makeImage(join(sb.dir, 't.img'), base);
    await withMounted(sb, img, async (mp) => {
      const plan = await planMigration({ sourceRoot: src, allow: ['/etc/hostname', '/etc/other.txt', '/etc/top.conf'] }, mp);
      expect(byPath(plan)['/etc/hostname']).toEqual({ kind: 'file', action: 'update', reasons: ['type: target is a symlink'] });
      await applyMigration(plan, src, mp);
      expect(lstatSync(join(mp, 'etc/hostname')).isFile()).toBe(true);
      expect(readFileSync(join(mp, 'etc/hostname'), 'utf8')).toBe('device-1\n');
      expect(readFileSync(join(mp, 'etc/top.conf'), 'utf8')).toBe('top=2\n');
      expect(() => lstatSync(join(mp, 'etc/.top.conf.ua-migrate'))).toThrow(/ENOENT/);
    });
    expect(mountsUnder(sb.dir)).toEqual([]);
    expect(() => lstatSync(join(outside, 'hostname'))).toThrow(/ENOENT/);
  });
});
