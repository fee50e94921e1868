// exportImage on real zfs-fuse: sparse verified copies, idempotence, leftovers, wrong hashes, no space.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XzCli } from '../../src/adapters/decompress.js';
import { ZfsCli } from '../../src/adapters/zfs.js';
import { silentLogger } from '../../src/log.js';
import { exportImage, type ExportOptions } from '../../src/steps/export.js';
import { importStream } from '../../src/steps/import.js';
import { buildImageVersions, createPool, makeSendFile, sha256File, type PublishedImages, type TestPool } from '../support/zfs-pool.js';

let dir: string;
let pool: TestPool;
let pub: PublishedImages;
const zfs = new ZfsCli({ busyTimeoutSec: 30 });
const decompressor = new XzCli();
const log = silentLogger();
const DATASET = 'dev';

function opts(version: number, imagesDir: string, over: Partial<ExportOptions> = {}): ExportOptions {
  const v = pub.versions.find((x) => x.version === version)!;
  return {
    pool: pool.name, dataset: DATASET, layout: 'file', imageFile: 'root.img', version, imagesDir,
    size: v.size, sha256: v.sha256, reserveBytes: 1 << 20, ...over,
  };
}

const clones = async (): Promise<string[]> => (await zfs.children(pool.name)).filter((n) => n.includes('.export-'));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'export-'));
  pool = await createPool(dir, 'texp', 256);
  pub = await buildImageVersions(pool, { workDir: dir, count: 2, sizeMiB: 48 });
  const full = join(dir, 'full1.xz');
  const inc = join(dir, 'inc12.xz');
  const f = await makeSendFile(null, `${pub.dataset}@1`, full);
  const i = await makeSendFile(`${pub.dataset}@1`, `${pub.dataset}@2`, inc);
  const common = { pool: pool.name, dataset: DATASET, compression: 'xz' as const, busyTimeoutSec: 20 };
  await importStream({ zfs, log, decompressor }, { ...common, streamPath: full, ...f, fromVersion: null, toVersion: 1 });
  await importStream({ zfs, log, decompressor }, { ...common, streamPath: inc, ...i, fromVersion: 1, toVersion: 2 });
});

afterAll(async () => {
  await pool?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('exportImage', () => {
  it('exports a sparse, verified copy; a second call is "already"; no clone or partial is left', async () => {
    const imagesDir = join(dir, 'images-a');
    expect(await exportImage({ zfs, log }, opts(1, imagesDir))).toBe('exported');
    const img = join(imagesDir, '1.img');
    const st = statSync(img);
    expect(st.size).toBe(48 << 20);
    expect(sha256File(img)).toBe(pub.versions[0]?.sha256);
    expect(st.blocks * 512).toBeLessThan(st.size / 2); // zero chunks became holes
    expect(readdirSync(imagesDir)).toEqual(['1.img']);
    expect(await clones()).toEqual([]);
    expect(await exportImage({ zfs, log }, opts(1, imagesDir))).toBe('already');
    expect(await exportImage({ zfs, log }, opts(2, imagesDir))).toBe('exported');
    expect(sha256File(join(imagesDir, '2.img'))).toBe(pub.versions[1]?.sha256);
  });

  it('a wrong expected sha256 → E_IMAGE_HASH, no image left; a wrong size → E_IMAGE_SIZE', async () => {
    const imagesDir = join(dir, 'images-b');
    const bad = opts(2, imagesDir, { sha256: '0'.repeat(64) });
    await expect(exportImage({ zfs, log }, bad)).rejects.toMatchObject({ code: 'E_IMAGE_HASH' });
    expect(readdirSync(imagesDir)).toEqual([]);
    expect(await clones()).toEqual([]);
    await expect(exportImage({ zfs, log }, opts(2, imagesDir, { size: (48 << 20) - 4096 }))).rejects.toMatchObject({ code: 'E_IMAGE_SIZE' });
    await expect(exportImage({ zfs, log }, opts(2, imagesDir, { size: (48 << 20) + 4096 }))).rejects.toMatchObject({ code: 'E_IMAGE_SIZE' });
    expect(readdirSync(imagesDir)).toEqual([]);
    expect(await clones()).toEqual([]);
  });

  it('restarts after a crash: leftover .partial, leftover clone, and a corrupt final image are replaced', async () => {
    const imagesDir = join(dir, 'images-c');
    mkdirSync(imagesDir, { recursive: true });
    writeFileSync(join(imagesDir, '.2.img.partial'), 'half an image');
    writeFileSync(join(imagesDir, '2.img'), 'not the image');
    await zfs.clone(`${pool.name}/${DATASET}@2`, `${pool.name}/${DATASET}.export-2`, { readonly: 'on' });
    expect(await exportImage({ zfs, log }, opts(2, imagesDir))).toBe('exported');
    expect(readdirSync(imagesDir)).toEqual(['2.img']);
    expect(sha256File(join(imagesDir, '2.img'))).toBe(pub.versions[1]?.sha256);
    expect(await clones()).toEqual([]);
  });

  it('refuses on a filesystem without room for the worst case → E_NO_SPACE with numbers', async () => {
    const tiny = `${pool.name}/tiny`;
    await execa('zfs', ['create', '-o', 'quota=16M', tiny]);
    const imagesDir = (await zfs.mountpoint(tiny))!;
    const err = await exportImage({ zfs, log }, opts(1, imagesDir)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_NO_SPACE', context: { need: (48 << 20) + (1 << 20) } });
    expect((err as { context: { free: number } }).context.free).toBeLessThan(16 << 20);
    expect(readdirSync(imagesDir)).toEqual([]);
    expect(await clones()).toEqual([]);
  });

  it('a snapshot without the image file → E_IMAGE_SOURCE, clone destroyed', async () => {
    const imagesDir = join(dir, 'images-d');
    await expect(exportImage({ zfs, log }, opts(1, imagesDir, { imageFile: 'missing.img' }))).rejects.toMatchObject({ code: 'E_IMAGE_SOURCE' });
    expect(existsSync(join(imagesDir, '.1.img.partial'))).toBe(false);
    expect(await clones()).toEqual([]);
  });
});
