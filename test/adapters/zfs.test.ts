// ZfsCli against a real zfs-fuse pool: listing, props, clones, busy handling, errors with stderr.
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZfsCli, snapshotVersion, isBusyMessage } from '../../src/adapters/zfs.js';
import { ZfsError } from '../../src/errors.js';
import { buildImageVersions, createPool, makeSendFile, sha256File, type PublishedImages, type TestPool } from '../support/zfs-pool.js';

let dir: string;
let pool: TestPool;
let pub: PublishedImages;
const zfs = new ZfsCli({ busyTimeoutSec: 30 });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'zfs-adapter-'));
  pool = await createPool(dir, 'tad', 256);
  pub = await buildImageVersions(pool, { workDir: dir, count: 2, sizeMiB: 32 });
});

afterAll(async () => {
  await pool?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('snapshot names', () => {
  it('parses integer versions only', () => {
    expect(snapshotVersion('p/ds@12')).toBe(12);
    expect(snapshotVersion('p/ds@v12')).toBeNull();
    expect(snapshotVersion('p/ds@1.5')).toBeNull();
    expect(snapshotVersion('p/ds')).toBeNull();
    expect(isBusyMessage("cannot destroy 'p/x': dataset is busy")).toBe(true);
  });
});

describe('ZfsCli', () => {
  it('lists snapshots oldest to newest with guid and createtxg, skipping non-integer names', async () => {
    await zfs.setProps(pub.dataset, { atime: 'off' });
    const raw = await execa('zfs', ['snapshot', `${pub.dataset}@manual`]);
    expect(raw.exitCode).toBe(0);
    const snaps = await zfs.snapshots(pub.dataset);
    expect(snaps.map((s) => s.version)).toEqual([1, 2]);
    expect(snaps[0]?.name).toBe(`${pub.dataset}@1`);
    expect(snaps[0]?.guid).toMatch(/^\d+$/);
    expect(snaps[0]!.createtxg).toBeLessThan(snaps[1]!.createtxg);
    await zfs.destroy(`${pub.dataset}@manual`);
  });

  it('answers [] / false for datasets that do not exist', async () => {
    expect(await zfs.snapshots(`${pool.name}/nope`)).toEqual([]);
    expect(await zfs.exists(`${pool.name}/nope`)).toBe(false);
    expect(await zfs.exists(pub.dataset)).toBe(true);
    expect(await zfs.exists(`${pub.dataset}@1`)).toBe(true);
    expect(await zfs.children(pool.name)).toContain(pub.dataset);
  });

  it('reports command failures as E_ZFS_COMMAND with stderr', async () => {
    const err = await zfs.rename(`${pool.name}/nope`, `${pool.name}/nope2`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZfsError);
    expect((err as ZfsError).code).toBe('E_ZFS_COMMAND');
    expect(String((err as ZfsError).context['stderr'])).toMatch(/does not exist/);
  });

  it('clones read-only, mounts, and destroys despite FUSE being briefly busy after reads', async () => {
    const clone = `${pool.name}/clone1`;
    await zfs.clone(`${pub.dataset}@1`, clone, { readonly: 'on' });
    const mp = await zfs.mountpoint(clone);
    expect(mp).not.toBeNull();
    expect(sha256File(join(mp!, 'root.img'))).toBe(pub.versions[0]?.sha256);
    await zfs.destroy(clone); // right after a read: zfs-fuse says "busy" for a while; the adapter retries
    expect(await zfs.exists(clone)).toBe(false);
  });

  it('sets and reads properties; unmount is idempotent', async () => {
    const ds = `${pool.name}/props`;
    await execa('zfs', ['create', ds]);
    await zfs.setProps(ds, { atime: 'off', canmount: 'noauto' });
    expect(await zfs.getProp(ds, 'atime')).toBe('off');
    expect(await zfs.getProp(ds, 'canmount')).toBe('noauto');
    await zfs.unmount(ds);
    await zfs.unmount(ds);
    expect(await zfs.mountpoint(ds)).toBeNull();
    await zfs.mount(ds);
    expect(await zfs.mountpoint(ds)).not.toBeNull();
    await zfs.destroy(ds, { recursive: true });
  });

  it('sends and receives (fd stdin), renames, rolls back', async () => {
    const file = join(dir, 'full.zfs');
    await makeSendFile(null, `${pub.dataset}@1`, file, 'none');
    const target = `${pool.name}/recv`;
    const fd = openSync(file, 'r');
    try {
      await zfs.recv(`${target}@1`, fd);
    } finally {
      closeSync(fd);
    }
    expect((await zfs.snapshots(target)).map((s) => s.version)).toEqual([1]);
    await zfs.unmount(target);
    await zfs.rename(target, `${target}2`);
    await zfs.rollback(`${target}2@1`);
    // A full stream into an existing dataset is refused (we never pass -F).
    const fd2 = openSync(file, 'r');
    const err = await zfs.recv(`${target}2@9`, fd2).catch((e: unknown) => e);
    closeSync(fd2);
    expect((err as ZfsError).code).toBe('E_ZFS_RECV');
    expect(String((err as ZfsError).context['stderr'])).toMatch(/exists/);
    await zfs.destroy(`${target}2`, { recursive: true });
  });

  it('send() streams a snapshot', async () => {
    const s = zfs.send(`${pub.dataset}@2`, `${pub.dataset}@1`);
    let bytes = 0;
    for await (const chunk of s.stdout) bytes += (chunk as Buffer).length;
    await s.done;
    expect(bytes).toBeGreaterThan(64 * 1024);
  });
});
