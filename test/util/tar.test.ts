// The streaming tar: GNU tar reads what we write (pax size past 8 GiB included), we index what GNU tar writes, cuts are caught.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, truncateSync, statSync, readFileSync, mkdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { entryHeaders, indexTar, paxRecord, TarError, TarWriter, USTAR_MAX_SIZE } from '../../src/util/tar.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ua-tar-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function index(path: string): Promise<Awaited<ReturnType<typeof indexTar>>> {
  const fh = await open(path, 'r');
  try {
    return await indexTar(async (b, p) => (await fh.read(b, 0, b.length, p)).bytesRead, (await fh.stat()).size);
  } finally {
    await fh.close();
  }
}

async function kindOf(path: string): Promise<string> {
  try {
    await index(path);
    return 'ok';
  } catch (err) {
    return err instanceof TarError ? err.kind : 'other';
  }
}

async function writeSample(path: string): Promise<void> {
  const fh = await open(path, 'w');
  const w = new TarWriter(fh);
  await w.addBuffer('a.json', Buffer.from('{"a":1}\n'));
  await w.addStream('streams/b', 1500, Readable.from([Buffer.alloc(1000, 7), Buffer.alloc(500, 8)]));
  await w.end();
  await fh.close();
}

describe('tar', () => {
  it('writes an archive GNU tar lists and extracts byte for byte, and indexes it back', async () => {
    const path = join(dir, 'ours.tar');
    await writeSample(path);
    const list = (await execa('tar', ['-tf', path])).stdout.split('\n');
    expect(list).toEqual(['a.json', 'streams/b']);
    const out = join(dir, 'x');
    mkdirSync(out);
    await execa('tar', ['-xf', path, '-C', out]);
    expect(readFileSync(join(out, 'streams/b'))).toEqual(Buffer.concat([Buffer.alloc(1000, 7), Buffer.alloc(500, 8)]));
    expect(await index(path)).toEqual([{ name: 'a.json', offset: 512, size: 8 }, { name: 'streams/b', offset: 1536, size: 1500 }]);
  });

  it('indexes an archive GNU tar wrote (pax format)', async () => {
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'one'), 'x'.repeat(700));
    const path = join(dir, 'gnu.tar');
    await execa('tar', ['--format=pax', '-cf', path, '-C', src, 'one']);
    const e = await index(path);
    expect(e.map((x) => [x.name, x.size])).toEqual([['one', 700]]);
    expect(readFileSync(path).subarray(e[0]!.offset, e[0]!.offset + 700).toString()).toBe('x'.repeat(700));
  });

  it('carries a size past 8 GiB in a pax record that GNU tar honours (sparse file, nothing stored)', async () => {
    const size = USTAR_MAX_SIZE + 1 + 4096;
    const path = join(dir, 'big.tar');
    const head = entryHeaders('big', size);
    writeFileSync(path, head);
    truncateSync(path, head.length + size + ((512 - (size % 512)) % 512) + 1024);
    expect(await index(path)).toEqual([{ name: 'big', offset: head.length, size }]);
    const { stdout } = await execa('tar', ['-tvf', path], { timeout: 120_000 });
    expect(stdout).toMatch(new RegExp(`\\b${size}\\b.* big$`));
  });

  it('pax record lengths count themselves', () => {
    for (const v of ['1', '123456789', '9'.repeat(95)]) {
      const r = paxRecord('size', v);
      expect(Number(r.split(' ')[0])).toBe(Buffer.byteLength(r));
    }
  });

  it('tells not-a-tar, a cut anywhere and a damaged header apart', async () => {
    const path = join(dir, 'sample.tar');
    await writeSample(path);
    const full = readFileSync(path);
    const cut = async (n: number): Promise<string> => {
      const p = join(dir, `cut-${n}.tar`);
      writeFileSync(p, full.subarray(0, n));
      return kindOf(p);
    };
    expect(await cut(full.length)).toBe('ok');
    for (const n of [600, 1536 + 100, 1536 + 1536, full.length - 1024]) expect(await cut(n)).toBe('truncated');
    expect(await cut(0)).toBe('not-tar');
    expect(await cut(100)).toBe('not-tar');
    const notTar = join(dir, 'junk');
    writeFileSync(notTar, Buffer.alloc(4096, 0x41));
    expect(await kindOf(notTar)).toBe('not-tar');
    const damaged = Buffer.from(full);
    damaged[1024 + 10] = damaged[1024 + 10]! ^ 0xff; // the second header's name: checksum fails
    const p = join(dir, 'damaged.tar');
    writeFileSync(p, damaged);
    expect(await kindOf(p)).toBe('corrupt');
    expect(statSync(p).size).toBe(full.length);
  });
});
