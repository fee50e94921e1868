// RsyncTreeSync's contract on plain directories: a mirror that keeps what is unchanged and says why it failed.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RsyncTreeSync } from '../../../src/publish/build/tree-sync.js';
import { makeTree } from '../../support/root-tree.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join('/var/tmp', 'uab-sync-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sync = new RsyncTreeSync();

describe('RsyncTreeSync', () => {
  it('mirrors: deletions, hard links, owners, xattrs, devices; unchanged files keep their inode; keep is left alone', async () => {
    const t1 = makeTree(join(dir, 't1'), { release: 1, files: 6 });
    const t2 = makeTree(join(dir, 't2'), { release: 2, files: 6 });
    const dst = join(dir, 'dst');
    mkdirSync(join(dst, 'lost+found'), { recursive: true });
    await sync.sync(t1, dst, { keep: ['/lost+found'] });
    const before = statSync(join(dst, 'usr/lib/app/part-005.bin')).ino;
    await sync.sync(t2, dst, { keep: ['/lost+found'] });
    expect(statSync(join(dst, 'usr/lib/app/part-005.bin')).ino).toBe(before);
    expect(existsSync(join(dst, 'usr/lib/app/part-001.bin'))).toBe(false);
    expect(existsSync(join(dst, 'lost+found'))).toBe(true);
    expect(statSync(join(dst, 'usr/bin/tool-a')).ino).toBe(statSync(join(dst, 'usr/bin/tool-b')).ino);
    expect(statSync(join(dst, 'srv/data/secret')).uid).toBe(1234);
    expect(execFileSync('getfattr', ['--only-values', '-n', 'user.origin', join(dst, 'srv/data/secret')], { stdio: ['ignore', 'pipe', 'ignore'] }).toString()).toBe('tree');
    expect(lstatSync(join(dst, 'dev/null')).isCharacterDevice()).toBe(true);
  });

  it('sees a change of content that kept the size and mtime (--checksum)', async () => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    mkdirSync(src);
    mkdirSync(dst);
    writeFileSync(join(src, 'f'), 'aaaa');
    utimesSync(join(src, 'f'), 1_700_000_000, 1_700_000_000);
    await sync.sync(src, dst, { keep: [] });
    writeFileSync(join(src, 'f'), 'bbbb');
    utimesSync(join(src, 'f'), 1_700_000_000, 1_700_000_000);
    await sync.sync(src, dst, { keep: [] });
    expect(readFileSync(join(dst, 'f'), 'utf8')).toBe('bbbb');
  });

  it('a missing source is E_BUILD_SYNC; a full target is E_BUILD_IMAGE_FULL', async () => {
    await expect(sync.sync(join(dir, 'absent'), join(dir, 'x'), { keep: [] })).rejects.toMatchObject({ code: 'E_BUILD_SYNC' });
    const small = join(dir, 'small');
    mkdirSync(small);
    mkdirSync(join(dir, 'big'));
    writeFileSync(join(dir, 'big/blob'), randomBytes(2 * 1024 * 1024));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'uab-small', small]);
    try {
      await expect(sync.sync(join(dir, 'big'), small, { keep: [] })).rejects.toMatchObject({ code: 'E_BUILD_IMAGE_FULL' });
    } finally {
      execFileSync('umount', [small]);
    }
  });
});
