// sha256 of a file read through an open descriptor with positional reads, so the fd offset stays where it was.
import { createHash } from 'node:crypto';
import { read } from 'node:fs';
import { promisify } from 'node:util';

const preadAsync = promisify(read);

export interface FdDigest {
  sha256: string;
  size: number;
}

/** Hashes bytes [0, limit) of `fd` (all of it when limit is undefined) without moving its offset. */
export async function sha256OfFd(fd: number, limit?: number, chunk = 1 << 20): Promise<FdDigest> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(chunk);
  let pos = 0;
  for (;;) {
    const want = limit === undefined ? chunk : Math.min(chunk, limit - pos);
    if (want <= 0) break;
    const { bytesRead } = await preadAsync(fd, buf, 0, want, pos);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return { sha256: hash.digest('hex'), size: pos };
}
