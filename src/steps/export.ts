// Export step: copies the image at snapshot <version> to <imagesDir>/<version>.img, sparse, hashed, atomically.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { open, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Zfs } from '../adapters/zfs.js';
import { ExportError, SpaceError } from '../errors.js';
import type { Logger } from '../log.js';
import { commitRename } from '../util/atomic-file.js';
import { sha256OfFd } from '../util/sha256.js';
import { exportCloneName } from './full-swap.js';
import { withSnapshotDevice, withSnapshotFile } from './snapshot-file.js';

export interface ExportDeps {
  zfs: Zfs;
  log: Logger;
}

export interface ExportOptions {
  pool: string;
  dataset: string;
  layout: 'file' | 'zvol';
  /** Layout 'file': the image's name inside the dataset. */
  imageFile: string;
  version: number;
  imagesDir: string;
  /** Signed size and sha256 of the final image. */
  size: number;
  sha256: string;
  /** Free space that must remain after the worst-case (non-sparse) copy. */
  reserveBytes: number;
}

export type ExportResult = 'exported' | 'already';

/** Read size (large reads are cheaper through FUSE) and hole granularity (zero blocks of this size are skipped). */
const CHUNK = 4 << 20;
const BLOCK = 1 << 20;
const ZERO = Buffer.alloc(BLOCK);

export const imagePath = (imagesDir: string, version: number): string => join(imagesDir, `${version}.img`);
export const partialImagePath = (imagesDir: string, version: number): string => join(imagesDir, `.${version}.img.partial`);

/** True when `path` is a regular file with exactly the signed size and sha256. */
export async function imageMatches(path: string, size: number, sha256: string): Promise<boolean> {
  const st = await stat(path).catch(() => null);
  if (!st?.isFile() || st.size !== size) return false;
  const fh = await open(path, 'r');
  try {
    return (await sha256OfFd(fh.fd, size)).sha256 === sha256.toLowerCase();
  } finally {
    await fh.close();
  }
}

async function checkSpace(dir: string, size: number, reserveBytes: number): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  // Sparse output usually needs far less, but zero runs are not known before reading: plan for every byte.
  const need = size + reserveBytes;
  if (free < need) {
    throw new SpaceError('E_NO_SPACE', `${dir}: ${free} bytes free, exporting needs ${need} (image ${size} + reserve ${reserveBytes})`, {
      context: { dir, free, need, size, reserveBytes },
    });
  }
}

/**
 * Streams `src` into a new `dst` in 1 MiB chunks, hashing every byte; all-zero chunks are not written (holes),
 * and ftruncate sets the final length. Reads at most size+1 bytes so an oversized source cannot fill the disk.
 */
async function copySparse(src: string, dst: string, expected: { size: number; sha256: string }): Promise<void> {
  const input = await open(src, 'r').catch((err: unknown) => {
    throw new ExportError('E_IMAGE_SOURCE', `cannot open image source ${src}: ${(err as Error).message}`, { cause: err, context: { src } });
  });
  try {
    const output = await open(dst, 'wx', 0o644);
    try {
      const hash = createHash('sha256');
      // Two buffers: the next chunk is read (thread pool) while this one is hashed and written, so the copy
      // costs about the slowest of read / hash / write instead of their sum.
      const bufs: [Buffer, Buffer] = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
      const bufAt = (i: number): Buffer => (i === 0 ? bufs[0] : bufs[1]);
      const readAt = (buf: Buffer, at: number): Promise<number> =>
        input.read(buf, 0, Math.max(0, Math.min(CHUNK, expected.size + 1 - at)), at).then((r) => r.bytesRead);
      let pos = 0;
      let turn = 0;
      let pending = readAt(bufs[0], 0);
      void pending.catch(() => undefined); // awaited below; this only marks it handled if we throw first
      for (;;) {
        const bytesRead = await pending;
        if (bytesRead === 0) break;
        if (pos + bytesRead > expected.size) {
          throw new ExportError('E_IMAGE_SIZE', `${src} is larger than the signed ${expected.size} bytes`, { context: { src, expected: expected.size } });
        }
        const chunk = bufAt(turn).subarray(0, bytesRead);
        turn ^= 1;
        pending = readAt(bufAt(turn), pos + bytesRead);
        void pending.catch(() => undefined);
        hash.update(chunk);
        for (let b = 0; b < bytesRead; b += BLOCK) {
          const block = chunk.subarray(b, Math.min(b + BLOCK, bytesRead));
          if (block.equals(ZERO.subarray(0, block.length))) continue;
          let off = 0;
          while (off < block.length) off += (await output.write(block, off, block.length - off, pos + b + off)).bytesWritten;
        }
        pos += bytesRead;
      }
      await output.truncate(pos);
      await output.sync();
      if (pos !== expected.size) {
        throw new ExportError('E_IMAGE_SIZE', `${src} has ${pos} bytes, signed size is ${expected.size}`, { context: { src, size: pos, expected: expected.size } });
      }
      const sha256 = hash.digest('hex');
      if (sha256 !== expected.sha256.toLowerCase()) {
        // Base + diff did not rebuild the published image: nothing may boot from it.
        throw new ExportError('E_IMAGE_HASH', `${src} does not match the signed image sha256`, { context: { src, sha256, expected: expected.sha256 } });
      }
    } finally {
      await output.close();
    }
  } catch (err) {
    rmSync(dst, { force: true });
    throw err;
  } finally {
    await input.close();
  }
}

/** Exports `<pool>/<dataset>@<version>` as `<imagesDir>/<version>.img`; 'already' when a verified copy is there. */
export async function exportImage(deps: ExportDeps, opts: ExportOptions): Promise<ExportResult> {
  const { zfs, log } = deps;
  const ds = `${opts.pool}/${opts.dataset}`;
  const finalPath = imagePath(opts.imagesDir, opts.version);
  const partial = partialImagePath(opts.imagesDir, opts.version);
  const clone = exportCloneName(ds, opts.version);
  const ctx = { dataset: ds, version: opts.version, path: finalPath };

  // A crash may leave a clone behind; it would block a later full-stream swap, so it goes first, always.
  if (await zfs.exists(clone)) {
    log.warn({ ...ctx, clone }, 'export: destroying leftover clone');
    await zfs.destroy(clone);
  }
  if (existsSync(partial)) {
    log.warn({ ...ctx, partial }, 'export: removing leftover partial image; restarting');
    rmSync(partial, { force: true });
  }
  if (await imageMatches(finalPath, opts.size, opts.sha256)) {
    log.info(ctx, 'export: image already present and verified');
    return 'already';
  }
  if (existsSync(finalPath)) {
    log.warn(ctx, 'export: existing image does not match the signed one; replacing it');
    rmSync(finalPath, { force: true });
  }
  mkdirSync(opts.imagesDir, { recursive: true });
  await checkSpace(opts.imagesDir, opts.size, opts.reserveBytes);

  const expected = { size: opts.size, sha256: opts.sha256 };
  if (opts.layout === 'zvol') {
    if (!(await zfs.capabilities()).zvols) {
      throw new ExportError('E_ZVOL_UNSUPPORTED', `${ds}: layout zvol, but this ZFS has no zvols (zfs-fuse?)`, { context: ctx });
    }
    log.info({ ...ctx, clone }, 'export: copying image from a read-only volume clone');
    await withSnapshotDevice(deps, `${ds}@${opts.version}`, clone, (dev) => copySparse(dev, partial, expected));
  } else {
    log.info({ ...ctx, clone }, 'export: copying image from a read-only clone');
    await withSnapshotFile(deps, `${ds}@${opts.version}`, clone, opts.imageFile, (src) => copySparse(src, partial, expected));
  }
  commitRename(partial, finalPath);
  log.info(ctx, 'export: image exported and verified');
  return 'exported';
}
