// The partial download file: open-or-create, re-hash the prefix, positional writes, durable truncate/delete.
import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import type { Hash } from 'node:crypto';
import { dirname } from 'node:path';
import { SpaceError, UpgradeError } from '../errors.js';
import { fsyncDir } from '../util/atomic-file.js';

/** Local disk failures are not the mirror's fault: ENOSPC gets its own code, the rest are internal. */
export function localFileError(err: unknown, path: string, op: string): UpgradeError {
  if (err instanceof UpgradeError) return err;
  const code = (err as { code?: unknown }).code;
  const msg = `${op} ${path}: ${err instanceof Error ? err.message : String(err)}`;
  if (code === 'ENOSPC') return new SpaceError('E_NO_SPACE', msg, { cause: err, context: { path } });
  return new UpgradeError('E_INTERNAL', msg, { cause: err, context: { path, op } });
}

async function onDisk<T>(path: string, op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw localFileError(err, path, op);
  }
}

export class PartialFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    /** Bytes on disk when opened. */
    readonly initialSize: number,
  ) {}

  /** Opens read-write, creating the file (and making its directory entry durable) when missing. */
  static async open(path: string): Promise<PartialFile> {
    return onDisk(path, 'open', async () => {
      let fh: FileHandle;
      try {
        fh = await open(path, constants.O_RDWR);
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
        fh = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
        fsyncDir(dirname(path));
      }
      const { size } = await fh.stat();
      return new PartialFile(path, fh, size);
    });
  }

  /** Feeds bytes [0, n) from disk into `hash` (the previous run's bytes, maybe from another process). */
  async rehash(n: number, hash: Hash, chunk = 1 << 20): Promise<void> {
    const buf = Buffer.allocUnsafe(chunk);
    let pos = 0;
    await onDisk(this.path, 'read', async () => {
      while (pos < n) {
        const { bytesRead } = await this.fh.read(buf, 0, Math.min(chunk, n - pos), pos);
        if (bytesRead === 0) throw new Error(`file shrank to ${pos} bytes while re-hashing ${n}`);
        hash.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
    });
  }

  async truncate(n: number): Promise<void> {
    await onDisk(this.path, 'truncate', () => this.fh.truncate(n));
  }

  async writeAt(buf: Buffer, position: number): Promise<void> {
    await onDisk(this.path, 'write', async () => {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await this.fh.write(buf, off, buf.length - off, position + off);
        off += bytesWritten;
      }
    });
  }

  /** fsync: after this, a checkpoint's byte count is true even across a power cut. */
  async sync(): Promise<void> {
    await onDisk(this.path, 'fsync', () => this.fh.sync());
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

/** Removes the partial file (bytes that must never be trusted again); missing is fine. */
export async function deletePartial(path: string): Promise<void> {
  try {
    await unlink(path);
    fsyncDir(dirname(path));
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw localFileError(err, path, 'unlink');
  }
}
