// feedChunks: every chunk checked before any byte of it is written; tampered, truncated and grown files stop the feed.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { chunkList } from '../../src/publish/chunk-list.js';
import { feedChunks } from '../../src/steps/chunk-feed.js';
import type { ChunkList } from '../../src/trust/manifest-types.js';
import { pseudoRandom } from '../support/zfs-pool.js';

const dir = mkdtempSync(join(tmpdir(), 'chunk-feed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CHUNK = 64 << 10;
const data = pseudoRandom('chunks', CHUNK * 5 + 1234);

/** A sink that keeps what it was given, slowly (a pipe that drains at its own pace). */
function sink(): { out: Writable; got: () => Buffer } {
  const parts: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      parts.push(Buffer.from(chunk));
      setImmediate(cb);
    },
  });
  return { out, got: () => Buffer.concat(parts) };
}

async function feed(bytes: Buffer, chunks: ChunkList, size = data.length): Promise<{ err: unknown; got: Buffer }> {
  const path = join(dir, `f-${Math.random()}`);
  writeFileSync(path, bytes);
  const fd = openSync(path, 'r');
  const s = sink();
  try {
    const err = await feedChunks(fd, path, size, chunks, s.out).then(() => null, (e: unknown) => e);
    return { err, got: s.got() };
  } finally {
    closeSync(fd);
  }
}

describe('feedChunks', () => {
  it('writes the whole file, in order, when every chunk matches', async () => {
    const path = join(dir, 'good');
    writeFileSync(path, data);
    const chunks = await chunkList(path, CHUNK);
    expect(chunks.sha256).toHaveLength(6);
    const r = await feed(data, chunks);
    expect(r.err).toBeNull();
    expect(r.got.equals(data)).toBe(true);
  });

  it('a tampered chunk stops the feed before any byte of it is written: only the chunks before it went out', async () => {
    const path = join(dir, 'ref');
    writeFileSync(path, data);
    const chunks = await chunkList(path, CHUNK);
    const bad = Buffer.from(data);
    bad[2 * CHUNK + 100]! ^= 0x01;
    const r = await feed(bad, chunks);
    expect(r.err).toMatchObject({ code: 'E_VERIFY_HASH', context: { chunk: 2, offset: 2 * CHUNK } });
    expect(r.got.length).toBe(2 * CHUNK);
    expect(r.got.equals(data.subarray(0, 2 * CHUNK))).toBe(true);
  });

  it('a truncated file → E_VERIFY_SIZE; its short last chunk is never written', async () => {
    const path = join(dir, 'ref2');
    writeFileSync(path, data);
    const chunks = await chunkList(path, CHUNK);
    const r = await feed(data.subarray(0, 4 * CHUNK + 10), chunks);
    expect(r.err).toMatchObject({ code: 'E_VERIFY_SIZE', context: { chunk: 4 } });
    expect(r.got.equals(data.subarray(0, 4 * CHUNK))).toBe(true);
  });

  it('a file longer than signed → E_VERIFY_SIZE before its last chunk goes out', async () => {
    const path = join(dir, 'long');
    writeFileSync(path, data);
    const chunks = await chunkList(path, CHUNK);
    appendFileSync(path, 'x');
    const fd = openSync(path, 'r');
    const s = sink();
    const err = await feedChunks(fd, path, data.length, chunks, s.out).catch((e: unknown) => e);
    closeSync(fd);
    expect(err).toMatchObject({ code: 'E_VERIFY_SIZE' });
    expect(s.got().equals(data.subarray(0, 5 * CHUNK))).toBe(true);
  });
});
