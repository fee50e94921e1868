// The signed chunk list of a stream file (docs/protocol.md, "Chunk hashes"): chunk size chosen by size, one sha256 per chunk.
import { createHash } from 'node:crypto';
import { read } from 'node:fs';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { MAX_CHUNK } from '../trust/manifest.js';
import type { ChunkList } from '../trust/manifest-types.js';

const preadAsync = promisify(read);

/** 1 MiB chunks, doubled until a stream has at most 1024 of them (about 70 KiB of manifest), up to 16 MiB. */
export function chunkSizeFor(size: number): number {
  let chunk = 1 << 20;
  while (chunk < MAX_CHUNK && Math.ceil(size / chunk) > 1024) chunk *= 2;
  return chunk;
}

/** Reads `path` once and hashes it chunk by chunk. */
export async function chunkList(path: string, chunkSize?: number): Promise<ChunkList> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const chunk = chunkSize ?? chunkSizeFor(size);
    const buf = Buffer.allocUnsafe(Math.min(chunk, Math.max(size, 1)));
    const sha256: string[] = [];
    for (let at = 0; at < size; at += chunk) {
      const len = Math.min(chunk, size - at);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await preadAsync(fh.fd, buf, got, len - got, at + got);
        if (bytesRead === 0) throw new Error(`${path} shrank while its chunks were hashed`);
        got += bytesRead;
      }
      sha256.push(createHash('sha256').update(buf.subarray(0, len)).digest('hex'));
    }
    return { size: chunk, sha256 };
  } finally {
    await fh.close();
  }
}
