// copyChanged writes only the chunks that differ, makes a sparse copy of zeros, and converges after a cut.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHUNK, chunkForRecordsize, copyChanged } from '../../../src/publish/build/block-copy.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uab-copy-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('copyChanged', () => {
  it('a copy of a mostly-zero file is equal and sparse', async () => {
    const src = join(dir, 'src');
    writeFileSync(src, Buffer.concat([randomBytes(CHUNK), Buffer.alloc(20 * CHUNK), randomBytes(100)]));
    const r = await copyChanged(src, join(dir, 'dst'));
    expect(readFileSync(join(dir, 'dst')).equals(readFileSync(src))).toBe(true);
    expect(r).toEqual({ size: 21 * CHUNK + 100, chunks: 22, written: 2 });
    expect(statSync(join(dir, 'dst')).blocks * 512).toBeLessThan(4 * CHUNK);
  });

  it('onto a copy that differs in one chunk, writes that chunk only; a shorter or longer dst is resized', async () => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    writeFileSync(src, randomBytes(10 * CHUNK));
    await copyChanged(src, dst);
    const fd = openSync(src, 'r+');
    writeSync(fd, Buffer.from('changed'), 0, 7, 5 * CHUNK + 17);
    closeSync(fd);
    expect((await copyChanged(src, dst)).written).toBe(1);
    expect((await copyChanged(src, dst)).written).toBe(0);
    writeFileSync(dst, randomBytes(12 * CHUNK));
    await copyChanged(src, dst);
    expect(readFileSync(dst).equals(readFileSync(src))).toBe(true);
  });

  it('converges when a copy was cut after some chunks (the build re-runs it)', async () => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    writeFileSync(src, randomBytes(8 * CHUNK));
    await expect(copyChanged(src, dst, (n) => {
      if (n === 3) throw new Error('killed');
    })).rejects.toThrow('killed');
    expect(readFileSync(dst).equals(readFileSync(src))).toBe(false);
    expect((await copyChanged(src, dst)).written).toBe(5);
    expect(readFileSync(dst).equals(readFileSync(src))).toBe(true);
  });

  it('with a chunk below CHUNK (a 4 KiB recordsize), writes only the 4 KiB pieces that differ', async () => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    writeFileSync(src, randomBytes(3 * CHUNK + 5000));
    await copyChanged(src, dst, undefined, 4096);
    const fd = openSync(src, 'r+');
    writeSync(fd, Buffer.from('a'), 0, 1, 17);
    writeSync(fd, Buffer.from('b'), 0, 1, 2 * CHUNK + 4096 * 7 + 3);
    writeSync(fd, Buffer.from('c'), 0, 1, 3 * CHUNK + 4999);
    closeSync(fd);
    const r = await copyChanged(src, dst, undefined, 4096);
    expect(r).toEqual({ size: 3 * CHUNK + 5000, chunks: 3 * 32 + 2, written: 3 });
    expect(readFileSync(dst).equals(readFileSync(src))).toBe(true);
    expect((await copyChanged(src, dst)).written).toBe(0);
  });

  it('a chunk above CHUNK works; one that is not a power of two from 512 B to 16 MiB is refused', async () => {
    const src = join(dir, 'src');
    writeFileSync(src, randomBytes(5 * CHUNK));
    expect(await copyChanged(src, join(dir, 'dst'), undefined, 4 * CHUNK)).toEqual({ size: 5 * CHUNK, chunks: 2, written: 2 });
    expect(readFileSync(join(dir, 'dst')).equals(readFileSync(src))).toBe(true);
    await expect(copyChanged(src, join(dir, 'dst'), undefined, 3000)).rejects.toThrow('not a power of two');
    await expect(copyChanged(src, join(dir, 'dst'), undefined, 256)).rejects.toThrow('not a power of two');
  });

  it('chunkForRecordsize takes a ZFS recordsize and falls back to CHUNK otherwise', () => {
    expect([4096, 16384, 131072, 1048576].map(chunkForRecordsize)).toEqual([4096, 16384, 131072, 1048576]);
    expect([Number.NaN, 0, 256, 3000, 32 * 1024 * 1024].map(chunkForRecordsize)).toEqual([CHUNK, CHUNK, CHUNK, CHUNK, CHUNK]);
  });
});
