// A stream source for the download step: copy one signed stream out of a bundle by offset, resumable, hashed.
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { DownloadError, UpgradeError } from '../errors.js';
import type { Logger } from '../log.js';
import { deletePartial, PartialFile } from './prefetch-file.js';
import { TokenBucket } from './rate-limit.js';
import { unreadable } from './bundle.js';
import type { TarEntry } from '../util/tar.js';

export interface BundleCopyOptions {
  bundlePath: string;
  /** Where the stream's bytes lie in the bundle. */
  entry: TarEntry;
  /** Signed size and sha256. */
  size: number;
  sha256: string;
  partialPath: string;
  /** Bytes on disk and fsynced (persisted by the caller as the deployment's downloadedBytes). */
  onProgress(bytes: number): void;
  onBytes?: (bytes: number, size: number) => void;
  /** fsync + onProgress at most this often. */
  checkpointBytes: number;
  /** download.maxBytesPerSec also bounds this copy (the appliance's own disk I/O); 0: none. */
  maxBytesPerSec: number;
  now: () => number;
  log: Logger;
}

const CHUNK = 1 << 20;

/**
 * Copies bytes [entry.offset, +size) of the bundle into the partial file, resuming after what is already there
 * (re-hashed first). Returns once all bytes are fsynced and hash to `sha256`. A resumed copy that hashes wrong is
 * redone once from byte 0 (the bundle may have been replaced); a full copy that hashes wrong is E_BUNDLE_STREAM_HASH
 * and the partial file goes. A bundle that shrank is E_BUNDLE_TRUNCATED; one that cannot be read E_BUNDLE_UNREADABLE.
 */
export async function copyFromBundle(o: BundleCopyOptions): Promise<{ bytes: number; sha256: string }> {
  let src: FileHandle;
  try {
    src = await open(o.bundlePath, 'r');
  } catch (err) {
    throw unreadable(o.bundlePath, err);
  }
  try {
    const first = await copyOnce(o, src, true);
    if (first.sha256 === o.sha256) return { bytes: first.bytes, sha256: first.sha256 };
    if (first.resumedAt > 0) {
      o.log.warn({ bundle: o.bundlePath, resumedAt: first.resumedAt }, 'resumed copy hashes wrong; copying again from byte 0');
      const again = await copyOnce(o, src, false);
      if (again.sha256 === o.sha256) return { bytes: again.bytes, sha256: again.sha256 };
    }
    await deletePartial(o.partialPath);
    throw new DownloadError('E_BUNDLE_STREAM_HASH', `stream in ${o.bundlePath} at byte ${o.entry.offset}: sha256 does not match signed ${o.sha256}`, {
      context: { bundle: o.bundlePath, offset: o.entry.offset, expected: o.sha256, size: o.size },
    });
  } finally {
    await src.close().catch(() => undefined);
  }
}

async function copyOnce(o: BundleCopyOptions, src: FileHandle, resume: boolean): Promise<{ bytes: number; sha256: string; resumedAt: number }> {
  const file = await PartialFile.open(o.partialPath);
  try {
    const hash = createHash('sha256');
    const start = resume && file.initialSize <= o.size ? file.initialSize : 0;
    if (start > 0) await file.rehash(start, hash);
    else if (file.initialSize > 0) await file.truncate(0);
    o.log.info({ bundle: o.bundlePath, from: start, size: o.size }, start > 0 ? 'resuming copy from bundle' : 'copying from bundle');
    o.onProgress(start);
    o.onBytes?.(start, o.size);
    const bucket = new TokenBucket({ bytesPerSec: o.maxBytesPerSec, now: o.now });
    const buf = Buffer.allocUnsafe(CHUNK);
    let pos = start;
    let lastCheckpoint = pos;
    while (pos < o.size) {
      let n: number;
      try {
        ({ bytesRead: n } = await src.read(buf, 0, Math.min(CHUNK, o.size - pos), o.entry.offset + pos));
      } catch (err) {
        throw unreadable(o.bundlePath, err);
      }
      if (n === 0) {
        throw new DownloadError('E_BUNDLE_TRUNCATED', `bundle ${o.bundlePath} ends inside a stream: ${pos} of ${o.size} bytes`, {
          context: { bundle: o.bundlePath, bytes: pos, size: o.size },
        });
      }
      const chunk = buf.subarray(0, n);
      await file.writeAt(chunk, pos);
      hash.update(chunk);
      pos += n;
      o.onBytes?.(pos, o.size);
      await bucket.take(n);
      if (pos - lastCheckpoint >= o.checkpointBytes) {
        await file.sync();
        lastCheckpoint = pos;
        o.onProgress(pos);
      }
    }
    await file.sync();
    o.onProgress(pos);
    return { bytes: pos, sha256: hash.digest('hex'), resumedAt: start };
  } catch (err) {
    // Keep what is on disk durable for the next run, unless the bytes themselves are bad.
    if (!(err instanceof UpgradeError && err.code === 'E_BUNDLE_STREAM_HASH')) await file.sync().catch(() => undefined);
    throw err;
  } finally {
    await file.close();
  }
}
