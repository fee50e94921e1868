// Copies an image file onto another by writing only the chunks that differ: sparse copies and small ZFS diffs.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** ZFS's default recordsize: a chunk that differs rewrites whole records, never more than it must. */
export const CHUNK = 128 * 1024;

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
 */
export async function copyChanged(src: string, dst: string, onWrite: (n: number) => void = () => undefined): Promise<CopyStats> {
  const s = await open(src, 'r');
  try {
    const d = await open(dst, constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      const size = (await s.stat()).size;
      if ((await d.stat()).size !== size) await d.truncate(size);
      const a = Buffer.alloc(CHUNK);
      const b = Buffer.alloc(CHUNK);
      let chunks = 0;
      let written = 0;
      for (let pos = 0; pos < size; pos += CHUNK) {
        const n = Math.min(CHUNK, size - pos);
        if ((await readFull(s, a, pos, n)) !== n) throw new Error(`${src} ended early at ${pos}`);
        const m = await readFull(d, b, pos, n);
        chunks++;
        if (m === n && a.compare(b, 0, n, 0, n) === 0) continue;
        if (m < n && isZero(a, n) && isZero(b, m)) continue;
        await d.write(a, 0, n, pos);
        written++;
        onWrite(written);
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
