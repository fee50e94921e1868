// Copies an image file onto another by writing only the chunks that differ: sparse copies and small ZFS diffs.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** ZFS's default recordsize: a chunk that differs rewrites whole records, never more than it must. */
export const CHUNK = 128 * 1024;
/** The chunk sizes `copyChanged` takes: ZFS's recordsizes (zfs-fuse 512 B to 128 KiB, OpenZFS up to 16 MiB). */
export const MIN_RECORD = 512;
export const MAX_RECORD = 16 * 1024 * 1024;

/** The write-back chunk for a dataset's `recordsize` in bytes: itself when it is one ZFS takes, else CHUNK. */
export function chunkForRecordsize(bytes: number): number {
  const ok = Number.isInteger(bytes) && bytes >= MIN_RECORD && bytes <= MAX_RECORD && (bytes & (bytes - 1)) === 0;
  return ok ? bytes : CHUNK;
}

export interface CopyStats {
  size: number;
  chunks: number;
  written: number;
}

const isZero = (b: Buffer, n: number): boolean => {
  for (let i = 0; i < n; i++) if (b[i] !== 0) return false;
  return true;
};

async function readFull(fh: FileHandle, buf: Buffer, pos: number, n: number): Promise<number> {
  let got = 0;
  while (got < n) {
    const { bytesRead } = await fh.read(buf, got, n - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/**
 * Makes `dst` byte-equal to `src`, in place: `dst` is created if missing and cut or grown to `src`'s size, then
 * each CHUNK is read from both and written only where they differ. Unchanged chunks are not written, so in a ZFS
 * dataset they keep their blocks and stay out of `zfs send -i`; all-zero chunks of a new file are never written,
 * so the copy is sparse. Interrupted, it is run again and converges. `onWrite` is called after each written chunk.
 * `chunk` (a power of two, default CHUNK) is the unit compared and written: the destination dataset's recordsize,
 * since a ZFS record written with the bytes it already held still gets a new block and travels in `zfs send -i`.
 * Reads go at least CHUNK at a time whatever the chunk.
 */
export async function copyChanged(src: string, dst: string, onWrite: (n: number) => void = () => undefined, chunk = CHUNK): Promise<CopyStats> {
  if (chunkForRecordsize(chunk) !== chunk) throw new Error(`copyChanged: chunk ${chunk} is not a power of two from ${MIN_RECORD} to ${MAX_RECORD}`);
  const s = await open(src, 'r');
  try {
    const d = await open(dst, constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      const size = (await s.stat()).size;
      if ((await d.stat()).size !== size) await d.truncate(size);
      const span = Math.max(chunk, CHUNK);
      const a = Buffer.alloc(span);
      const b = Buffer.alloc(span);
      let chunks = 0;
      let written = 0;
      for (let at = 0; at < size; at += span) {
        const len = Math.min(span, size - at);
        if ((await readFull(s, a, at, len)) !== len) throw new Error(`${src} ended early at ${at}`);
        const got = await readFull(d, b, at, len);
        for (let off = 0; off < len; off += chunk) {
          const n = Math.min(chunk, len - off);
          const m = Math.max(0, Math.min(n, got - off));
          chunks++;
          if (m === n && a.compare(b, off, off + n, off, off + n) === 0) continue;
          if (m < n && isZero(a.subarray(off), n) && isZero(b.subarray(off), m)) continue;
          await d.write(a, off, n, at + off);
          written++;
          onWrite(written);
        }
      }
      await d.sync();
      return { size, chunks, written };
    } finally {
      await d.close();
    }
  } finally {
    await s.close();
  }
}
