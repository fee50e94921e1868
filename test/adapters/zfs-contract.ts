// The Zfs adapter contract: the same cases for any implementation (zfs-fuse on the host, OpenZFS in a guest) on any pool factory.
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Zfs } from '../../src/adapters/zfs.js';
import { ZfsError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { waitForBlockDevice, zvolPath } from '../../src/adapters/zvol-device.js';
import { exportImage } from '../../src/steps/export.js';
import { withSnapshotFile } from '../../src/steps/snapshot-file.js';
import { sha256File, type PublishedImages, type TestPool } from '../support/zfs-pool.js';

/** What the publisher side made once: image versions 1 and 2 and their uncompressed send files. */
export interface ContractFixture {
  dir: string;
  pub: PublishedImages;
  /** `zfs send pub@1` and `zfs send -i @1 pub@2`, uncompressed. */
  full1: string;
  inc12: string;
}

export interface ContractSubject {
  adapter: () => Zfs;
  /** A fresh, empty pool of the kind under test (e.g. with inherited mountpoints, or `-m none`). */
  newPool: (dir: string) => Promise<TestPool>;
  fixture: () => ContractFixture;
}

/** How the agent leaves a received dataset's head. */
const SETTLED_PROPS = { atime: 'off', readonly: 'on', canmount: 'noauto' };

async function recvFile(zfs: Zfs, target: string, file: string, opts = {}): Promise<void> {
  const fd = openSync(file, 'r');
  try {
    await zfs.recv(target, fd, opts);
  } finally {
    closeSync(fd);
  }
}

export function zfsContract(label: string, subject: ContractSubject): void {
  describe(`Zfs contract: ${label}`, () => {
    let pool: TestPool;
    let fx: ContractFixture;
    let ds: string;
    let zfs: Zfs;

    beforeAll(async () => {
      fx = subject.fixture();
      zfs = subject.adapter();
      pool = await subject.newPool(fx.dir);
      ds = `${pool.name}/ds`;
      await recvFile(zfs, `${ds}@1`, fx.full1);
      await recvFile(zfs, `${ds}@2`, fx.inc12);
      await zfs.setProps(ds, SETTLED_PROPS);
      await zfs.unmount(ds);
    });

    afterAll(async () => {
      await pool?.destroy();
    });

    it('probes its capabilities once: the same answer, and every flag a boolean', async () => {
      const caps = await zfs.capabilities();
      expect(await zfs.capabilities()).toBe(caps);
      expect(Object.values(caps).every((v) => typeof v === 'boolean')).toBe(true);
      expect(Object.keys(caps).sort()).toEqual(['multiSet', 'parseableList', 'receiveNoMount', 'receiveProps', 'resumableReceive', 'zvols']);
    });

    it('lists snapshots oldest to newest with guid and createtxg, skipping non-integer names', async () => {
      await execa('zfs', ['snapshot', `${ds}@manual`]);
      const snaps = await zfs.snapshots(ds);
      expect(snaps.map((s) => s.version)).toEqual([1, 2]);
      expect(snaps[0]?.name).toBe(`${ds}@1`);
      expect(snaps[0]?.guid).toMatch(/^\d+$/);
      expect(snaps[0]!.createtxg).toBeLessThan(snaps[1]!.createtxg);
      await zfs.destroy(`${ds}@manual`);
    });

    it('view(): one listing of the dataset, its siblings and their snapshots, with exact values', async () => {
      const view = await zfs.view(ds);
      const head = view.get(ds);
      expect(head).toMatchObject({ type: 'filesystem', mounted: false, readonly: 'on', canmount: 'noauto', atime: 'off' });
      expect(head?.mountpoint).toBe(await zfs.getProp(ds, 'mountpoint'));
      expect(head?.guid).toBe(await zfs.getProp(ds, 'guid'));
      expect(view.get(`${ds}@1`)).toMatchObject({ type: 'snapshot', mounted: null });
      expect(view.snapshots(ds).map((s) => s.version)).toEqual([1, 2]);
      expect(view.exists(`${ds}.full`)).toBe(false);
      expect((await zfs.view(`${pool.name}nope/ds`)).entries).toEqual([]);
    });

    it('answers [] / false for datasets that do not exist', async () => {
      expect(await zfs.snapshots(`${pool.name}/nope`)).toEqual([]);
      expect(await zfs.exists(`${pool.name}/nope`)).toBe(false);
      expect(await zfs.exists(ds)).toBe(true);
      expect(await zfs.exists(`${ds}@1`)).toBe(true);
      expect(await zfs.children(pool.name)).toContain(ds);
    });

    it('reports command failures as E_ZFS_COMMAND with stderr', async () => {
      const err = await zfs.rename(`${pool.name}/nope`, `${pool.name}/nope2`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ZfsError);
      expect((err as ZfsError).code).toBe('E_ZFS_COMMAND');
      expect(String((err as ZfsError).context['stderr'])).toMatch(/does not exist/);
    });

    it('a clone with its own mountpoint and canmount=noauto mounts there, whatever the pool inherits; destroy retries busy', async () => {
      const clone = `${pool.name}/clone1`;
      const mnt = mkdtempSync(join(fx.dir, 'mnt-'));
      await zfs.clone(`${ds}@1`, clone, { readonly: 'on', canmount: 'noauto', mountpoint: mnt });
      await zfs.mount(clone); // zfs-fuse's clone mounts at once despite canmount=noauto (OpenZFS does not): either way
      expect(await zfs.mountpoint(clone)).toBe(mnt);
      expect(sha256File(join(mnt, 'root.img'))).toBe(fx.pub.versions[0]?.sha256);
      await zfs.destroy(clone); // right after a read: zfs-fuse says "busy" for a while; the adapter retries
      expect(await zfs.exists(clone)).toBe(false);
      rmSync(mnt, { recursive: true, force: true });
    });

    it('withSnapshotFile reads a snapshot file through a clone and leaves neither clone nor mount directory', async () => {
      const base = mkdtempSync(join(fx.dir, 'base-'));
      const sha = await withSnapshotFile({ zfs, log: silentLogger() }, `${ds}@2`, `${ds}.export-2`, 'root.img', async (p) => sha256File(p), base);
      expect(sha).toBe(fx.pub.versions[1]?.sha256);
      expect(await zfs.exists(`${ds}.export-2`)).toBe(false);
      expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(base);
      expect(readdirSync(base)).toEqual([]); // the clone's mount directory went with it
      rmSync(base, { recursive: true });
    });

    it('sets several properties at once and reads them; unmount is idempotent', async () => {
      const fs = `${pool.name}/props`;
      const mnt = mkdtempSync(join(fx.dir, 'props-'));
      await execa('zfs', ['create', '-o', `mountpoint=${mnt}`, fs]);
      await zfs.setProps(fs, { atime: 'off', canmount: 'noauto' });
      expect(await zfs.getProp(fs, 'atime')).toBe('off');
      expect(await zfs.getProp(fs, 'canmount')).toBe('noauto');
      await zfs.unmount(fs);
      await zfs.unmount(fs);
      expect(await zfs.mountpoint(fs)).toBeNull();
      await zfs.mount(fs);
      expect(await zfs.mountpoint(fs)).toBe(mnt);
      await zfs.destroy(fs, { recursive: true });
    });

    it('recv honours noMount and props where the capabilities say so; the head settles to the same state either way', async () => {
      const caps = await zfs.capabilities();
      const target = `${pool.name}/recvopts`;
      await recvFile(zfs, `${target}@1`, fx.full1, { noMount: true, props: SETTLED_PROPS });
      const head = (await zfs.view(target)).get(target);
      if (caps.receiveProps) expect(head).toMatchObject({ readonly: 'on', canmount: 'noauto', atime: 'off' });
      if (caps.receiveNoMount || pool.mountpoint === 'none') expect(head?.mounted).toBe(false);
      else expect(head?.mounted).toBe(true);
      await zfs.destroy(target, { recursive: true });
    });

    it('recv from a feed; a feed that fails wins over the receive, and nothing is received', async () => {
      const target = `${pool.name}/fed`;
      const whole = readFileSync(fx.full1);
      const feed = (upTo: number, fail: boolean) => async (w: Writable): Promise<void> => {
        await new Promise<void>((resolve, reject) => w.write(whole.subarray(0, upTo), (e) => (e ? reject(e) : resolve())));
        if (fail) throw new Error('bad chunk');
      };
      await expect(zfs.recv(`${target}@1`, feed(whole.length >> 1, true))).rejects.toThrow('bad chunk');
      expect(await zfs.exists(target)).toBe(false);
      await zfs.recv(`${target}@1`, feed(whole.length, false), { noMount: true });
      expect((await zfs.snapshots(target)).map((s) => s.version)).toEqual([1]);
      await zfs.destroy(target, { recursive: true });
    });

    it('receives (fd stdin), renames, rolls back; a full stream into an existing dataset is refused', async () => {
      const target = `${pool.name}/recv`;
      await recvFile(zfs, `${target}@1`, fx.full1);
      expect((await zfs.snapshots(target)).map((s) => s.version)).toEqual([1]);
      await zfs.unmount(target);
      await zfs.rename(target, `${target}2`);
      await zfs.rollback(`${target}2@1`);
      const err = await recvFile(zfs, `${target}2@9`, fx.full1).catch((e: unknown) => e);
      expect((err as ZfsError).code).toBe('E_ZFS_RECV');
      expect(String((err as ZfsError).context['stderr'])).toMatch(/exists/);
      await zfs.destroy(`${target}2`, { recursive: true });
    });

    it('layout zvol: a volume snapshot exports to a sparse, verified file through a clone; refused where there are no zvols', async () => {
      const caps = await zfs.capabilities();
      const img = fx.pub.versions[0]!;
      const imagesDir = mkdtempSync(join(fx.dir, 'images-'));
      const deps = { zfs, log: silentLogger() };
      const opts = {
        pool: pool.name, dataset: 'vol', layout: 'zvol' as const, imageFile: 'root.img', version: 1, imagesDir,
        size: img.size, sha256: img.sha256, reserveBytes: 0,
      };
      if (!caps.zvols) {
        const err = await exportImage(deps, opts).catch((e: unknown) => e);
        expect((err as ZfsError).code).toBe('E_ZVOL_UNSUPPORTED');
        expect(readdirSync(imagesDir)).toEqual([]);
        return;
      }
      const vol = `${pool.name}/vol`;
      await execa('zfs', ['create', '-V', String(img.size), vol]);
      await waitForBlockDevice(zvolPath(vol), 30_000);
      // The published image's bytes into the volume, as a publisher of the zvol layout would have them.
      await withSnapshotFile(deps, `${ds}@1`, `${ds}.export-1`, 'root.img', (p) =>
        execa('dd', [`if=${p}`, `of=${zvolPath(vol)}`, 'bs=1M', 'conv=fsync', 'status=none']), fx.dir);
      await execa('zfs', ['snapshot', `${vol}@1`]);
      expect(await exportImage(deps, opts)).toBe('exported');
      const out = join(imagesDir, '1.img');
      expect(sha256File(out)).toBe(img.sha256);
      expect(statSync(out).blocks * 512).toBeLessThan(img.size); // the ext4 image's zero runs stayed holes
      expect(await zfs.exists(`${vol}.export-1`)).toBe(false);
      expect(await exportImage(deps, opts)).toBe('already');
      await zfs.destroy(vol, { recursive: true });
      rmSync(imagesDir, { recursive: true, force: true });
    });

    it('send() streams a snapshot', async () => {
      const s = zfs.send(`${ds}@2`, `${ds}@1`);
      let bytes = 0;
      for await (const chunk of s.stdout) bytes += (chunk as Buffer).length;
      await s.done;
      expect(bytes).toBeGreaterThan(64 * 1024);
    });
  });
}
