// importStream on real zfs-fuse: chains, skips, full-stream swaps and their crash recovery, refusals, bad streams.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readSync, renameSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XzCli } from '../../src/adapters/decompress.js';
import { ZfsCli, type Zfs } from '../../src/adapters/zfs.js';
import { ZfsError } from '../../src/errors.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { exportImage } from '../../src/steps/export.js';
import { importStream, type ImportOptions } from '../../src/steps/import.js';
import { chunkList } from '../../src/publish/chunk-list.js';
import { buildImageVersions, createPool, makeSendFile, pseudoRandom, sha256File, type PublishedImages, type TestPool } from '../support/zfs-pool.js';

type Stream = { path: string; size: number; sha256: string; compression: 'xz' | 'none'; from: number | null; to: number };

let dir: string;
let pool: TestPool;
let pub: PublishedImages;
const zfs = new ZfsCli({ busyTimeoutSec: 30 });
const decompressor = new XzCli();
const log = process.env['ZT_LOG'] ? createLogger({ level: 'debug', fd: 2 }) : silentLogger();
const s: Record<string, Stream> = {};

async function stream(name: string, from: number | null, to: number, compression: 'xz' | 'none' = 'xz'): Promise<void> {
  const path = join(dir, `${name}.zfs${compression === 'xz' ? '.xz' : ''}`);
  const fromSnap = from === null ? null : `${pub.dataset}@${from}`;
  s[name] = { path, compression, from, to, ...(await makeSendFile(fromSnap, `${pub.dataset}@${to}`, path, compression)) };
}

function opts(dataset: string, st: Stream, over: Partial<ImportOptions> = {}): ImportOptions {
  return {
    streamPath: st.path, size: st.size, sha256: st.sha256, compression: st.compression,
    pool: pool.name, dataset, fromVersion: st.from, toVersion: st.to, busyTimeoutSec: 20, ...over,
  };
}

const versionsOf = async (dataset: string): Promise<number[]> => (await zfs.snapshots(`${pool.name}/${dataset}`)).map((x) => x.version);

async function expectImage(dataset: string, version: number): Promise<void> {
  const imagesDir = join(dir, `images-${dataset}`);
  const want = pub.versions.find((v) => v.version === version)!;
  const r = await exportImage({ zfs, log }, {
    pool: pool.name, dataset, layout: 'file', imageFile: 'root.img', version, imagesDir, size: want.size, sha256: want.sha256, reserveBytes: 0,
  });
  expect(r).toBe('exported');
  expect(sha256File(join(imagesDir, `${version}.img`))).toBe(want.sha256);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'import-'));
  pool = await createPool(dir, 'timp', 384);
  pub = await buildImageVersions(pool, { workDir: dir, count: 3, sizeMiB: 32 });
  await stream('full1', null, 1);
  await stream('full1raw', null, 1, 'none');
  await stream('full3', null, 3);
  await stream('inc12', 1, 2);
  await stream('inc23', 2, 3);
  await stream('inc13', 1, 3);
});

afterAll(async () => {
  await pool?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('importStream', () => {
  it('full then incremental 1→2→3; each exported image equals the publisher image; re-import is "already"', async () => {
    expect(await importStream({ zfs, log, decompressor }, opts('chain', s.full1!))).toBe('received');
    await expectImage('chain', 1);
    expect(await importStream({ zfs, log, decompressor }, opts('chain', s.inc12!))).toBe('received');
    await expectImage('chain', 2);
    expect(await importStream({ zfs, log, decompressor }, opts('chain', s.inc23!))).toBe('received');
    // Received on a settled head without asking again: still settled.
    expect((await zfs.view(`${pool.name}/chain`)).get(`${pool.name}/chain`)).toMatchObject({ mounted: false, readonly: 'on', canmount: 'noauto', atime: 'off' });
    await expectImage('chain', 3);
    expect(await versionsOf('chain')).toEqual([1, 2, 3]);
    expect(await importStream({ zfs, log, decompressor }, opts('chain', s.inc23!))).toBe('already');
    const ds = `${pool.name}/chain`;
    expect(await zfs.getProp(ds, 'atime')).toBe('off');
    expect(await zfs.getProp(ds, 'canmount')).toBe('noauto');
    expect(await zfs.mountpoint(ds)).toBeNull();
  });

  it('skips a version with a 1→3 diff; an uncompressed full stream works too', async () => {
    expect(await importStream({ zfs, log, decompressor }, opts('skip', s.full1raw!))).toBe('received');
    expect(await importStream({ zfs, log, decompressor }, opts('skip', s.inc13!))).toBe('received');
    expect(await versionsOf('skip')).toEqual([1, 3]);
    await expectImage('skip', 3);
  });

  it('a full stream into an existing dataset is staged and swapped in', async () => {
    await importStream({ zfs, log, decompressor }, opts('swap', s.full1!));
    await expectImage('swap', 1); // leaves nothing mounted behind: export clones are destroyed
    expect(await importStream({ zfs, log, decompressor }, opts('swap', s.full3!))).toBe('received');
    expect(await versionsOf('swap')).toEqual([3]);
    expect(await zfs.exists(`${pool.name}/swap.full`)).toBe(false);
    expect(await zfs.exists(`${pool.name}/swap.old`)).toBe(false);
    await expectImage('swap', 3);
  });

  it('recovers a full swap interrupted at each step', async () => {
    const base = `${pool.name}/crash`;
    const stageFull3 = async (): Promise<void> => {
      await importStream({ zfs, log, decompressor }, opts('crash.full', s.full3!)); // what the staging recv leaves behind
    };
    // 1. staging received, nothing renamed yet; a leftover mounted export clone of the old head is in the way too.
    await importStream({ zfs, log, decompressor }, opts('crash', s.full1!));
    await zfs.clone(`${base}@1`, `${base}.export-1`, { readonly: 'on' });
    await stageFull3();
    expect(await importStream({ zfs, log, decompressor }, opts('crash', s.full3!))).toBe('already');
    expect(await versionsOf('crash')).toEqual([3]);
    expect(await zfs.exists(`${base}.export-1`)).toBe(false);
    // 2. current dataset already renamed to .old, staging not yet renamed.
    await zfs.destroy(base, { recursive: true });
    await importStream({ zfs, log, decompressor }, opts('crash', s.full1!));
    await stageFull3();
    await zfs.rename(base, `${base}.old`);
    expect(await importStream({ zfs, log, decompressor }, opts('crash', s.full3!))).toBe('already');
    expect(await versionsOf('crash')).toEqual([3]);
    expect(await zfs.exists(`${base}.old`)).toBe(false);
    // 3. swap done, .old not yet destroyed: cleaned up, and an incremental on top still works.
    await importStream({ zfs, log, decompressor }, opts('crash.old', s.full1!));
    expect(await importStream({ zfs, log, decompressor }, opts('crash', s.full3!))).toBe('already');
    expect(await zfs.exists(`${base}.old`)).toBe(false);
    // 4. only .old left (staging lost): the old history is put back, then a stale empty-handed import refuses.
    await zfs.rename(base, `${base}.old`);
    await expect(importStream({ zfs, log, decompressor }, opts('crash', s.inc12!))).rejects.toMatchObject({ code: 'E_ZFS_BASE_MISMATCH' });
    expect(await versionsOf('crash')).toEqual([3]);
    await expectImage('crash', 3);
  });

  it('refuses a diff whose base is not the newest snapshot, receiving nothing', async () => {
    await importStream({ zfs, log, decompressor }, opts('base', s.full1!));
    const err = await importStream({ zfs, log, decompressor }, opts('base', s.inc23!)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_ZFS_BASE_MISMATCH', context: { newest: 1, fromVersion: 2 } });
    expect(await versionsOf('base')).toEqual([1]);
    await expect(importStream({ zfs, log, decompressor }, opts('nothing-here', s.inc12!))).rejects.toMatchObject({ code: 'E_ZFS_BASE_MISMATCH' });
    expect(await zfs.exists(`${pool.name}/nothing-here`)).toBe(false);
  });

  it('one flipped bit → E_VERIFY_HASH; truncated → E_VERIFY_SIZE; nothing received either way', async () => {
    await importStream({ zfs, log, decompressor }, opts('tamper', s.full1!));
    const bytes = readFileSync(s.inc12!.path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x10;
    const flipped = join(dir, 'flipped.xz');
    writeFileSync(flipped, bytes);
    await expect(importStream({ zfs, log, decompressor }, opts('tamper', s.inc12!, { streamPath: flipped }))).rejects.toMatchObject({ code: 'E_VERIFY_HASH' });
    const short = join(dir, 'short.xz');
    writeFileSync(short, readFileSync(s.inc12!.path).subarray(0, s.inc12!.size - 100));
    await expect(importStream({ zfs, log, decompressor }, opts('tamper', s.inc12!, { streamPath: short }))).rejects.toMatchObject({ code: 'E_VERIFY_SIZE' });
    expect(await versionsOf('tamper')).toEqual([1]);
  });

  it('a valid but different stream renamed over the path after verification cannot reach zfs recv', async () => {
    await importStream({ zfs, log, decompressor }, opts('race', s.full1!));
    const path = join(dir, 'race.xz');
    writeFileSync(path, readFileSync(s.inc12!.path));
    const evil = join(dir, 'race-evil.xz');
    writeFileSync(evil, readFileSync(s.inc13!.path)); // also applies to base 1, but rebuilds version 3
    // recv is called after openVerified and before xz reads a byte: the attacker's moment.
    let raced = 0;
    const racing: Zfs = Object.assign(Object.create(zfs) as Zfs, {
      recv: async (target: string, stdin: number | Readable, o?: object) => {
        if (existsSync(evil)) {
          renameSync(evil, path);
          raced++;
        }
        return zfs.recv(target, stdin, o);
      },
    });
    expect(await importStream({ zfs: racing, log, decompressor }, opts('race', s.inc12!, { streamPath: path }))).toBe('received');
    expect(raced).toBe(1);
    await expectImage('race', 2);
  });

  it('garbage with a matching hash → E_DECOMPRESS / E_ZFS_RECV, dataset unchanged, then a good import works', async () => {
    await importStream({ zfs, log, decompressor }, opts('junk', s.full1!));
    const cases: { name: string; data: Buffer; compression: 'xz' | 'none'; code: string }[] = [
      { name: 'not-xz', data: pseudoRandom('junk', 200_000), compression: 'xz', code: 'E_DECOMPRESS' },
      { name: 'truncated-xz', data: readFileSync(s.inc12!.path).subarray(0, 4000), compression: 'xz', code: 'E_DECOMPRESS' },
      { name: 'raw-junk', data: pseudoRandom('raw', 100_000), compression: 'none', code: 'E_ZFS_RECV' },
    ];
    // Valid xz around 8 MiB of junk: recv gives up at once and xz must die of EPIPE instead of hanging.
    const bigJunk = join(dir, 'big-junk');
    writeFileSync(bigJunk, pseudoRandom('big', 8 << 20));
    const xzJunk = await new Promise<Buffer>((resolve, reject) => {
      const xz = spawn('xz', ['-0', '-c', bigJunk]);
      const parts: Buffer[] = [];
      xz.stdout.on('data', (d: Buffer) => parts.push(d));
      xz.on('close', (code) => (code === 0 ? resolve(Buffer.concat(parts)) : reject(new Error('xz failed'))));
    });
    cases.push({ name: 'xz-of-junk', data: xzJunk, compression: 'xz', code: 'E_ZFS_RECV' });
    for (const c of cases) {
      const path = join(dir, `${c.name}.bin`);
      writeFileSync(path, c.data);
      const st: Stream = { path, size: c.data.length, sha256: sha256File(path), compression: c.compression, from: 1, to: 2 };
      await expect(importStream({ zfs, log, decompressor }, opts('junk', st)), c.name).rejects.toMatchObject({ code: c.code });
      expect(await versionsOf('junk')).toEqual([1]);
    }
    // A decompressor that cannot even start: the same code, the cause kept, nothing received.
    const missing = importStream({ zfs, log, decompressor: new XzCli('/nonexistent/xz') }, opts('junk', s.inc12!));
    await expect(missing).rejects.toMatchObject({ code: 'E_DECOMPRESS', message: expect.stringContaining('ENOENT') });
    expect(await versionsOf('junk')).toEqual([1]);
    expect(await importStream({ zfs, log, decompressor }, opts('junk', s.inc12!))).toBe('received');
    await expectImage('junk', 2);
  });

  it('with signed chunk hashes: 1→2→3 (xz and uncompressed), each image equal to the publisher image', async () => {
    for (const [name, full] of [['chunkxz', s.full1!], ['chunkraw', s.full1raw!]] as const) {
      expect(await importStream({ zfs, log, decompressor }, opts(name, full, { chunks: await chunkList(full.path, 64 << 10) }))).toBe('received');
      expect(await importStream({ zfs, log, decompressor }, opts(name, s.inc12!, { chunks: await chunkList(s.inc12!.path, 64 << 10) }))).toBe('received');
      expect(await importStream({ zfs, log, decompressor }, opts(name, s.inc23!, { chunks: await chunkList(s.inc23!.path) }))).toBe('received');
      expect(await versionsOf(name)).toEqual([1, 2, 3]);
      await expectImage(name, 3);
    }
  });

  it('with chunk hashes: a tampered chunk → E_VERIFY_HASH, a truncated file → E_VERIFY_SIZE, nothing received; then a good import', async () => {
    await importStream({ zfs, log, decompressor }, opts('chunkbad', s.full1!));
    const chunks = await chunkList(s.inc12!.path, 64 << 10);
    expect(chunks.sha256.length).toBeGreaterThan(2);
    const bytes = readFileSync(s.inc12!.path);
    bytes[(64 << 10) + 7]! ^= 0x10; // in chunk 1: chunk 0 went to xz, then the feed stopped
    const flipped = join(dir, 'chunk-flipped.xz');
    writeFileSync(flipped, bytes);
    await expect(importStream({ zfs, log, decompressor }, opts('chunkbad', s.inc12!, { streamPath: flipped, chunks }))).rejects.toMatchObject({
      code: 'E_VERIFY_HASH', context: { chunk: 1 },
    });
    const short = join(dir, 'chunk-short.xz');
    writeFileSync(short, readFileSync(s.inc12!.path).subarray(0, s.inc12!.size - 100));
    await expect(importStream({ zfs, log, decompressor }, opts('chunkbad', s.inc12!, { streamPath: short, chunks }))).rejects.toMatchObject({ code: 'E_VERIFY_SIZE' });
    expect(await versionsOf('chunkbad')).toEqual([1]);
    expect(await importStream({ zfs, log, decompressor }, opts('chunkbad', s.inc12!, { chunks }))).toBe('received');
    await expectImage('chunkbad', 2);
  });

  it('rolls the head back only when the receive says it was modified since the base snapshot', async () => {
    const calls: string[] = [];
    const counting: Zfs = Object.assign(Object.create(zfs) as Zfs, {
      rollback: async (snap: string) => {
        calls.push(snap);
        return zfs.rollback(snap);
      },
    });
    await importStream({ zfs: counting, log, decompressor }, opts('headmod', s.full1!));
    expect(await importStream({ zfs: counting, log, decompressor }, opts('headmod', s.inc12!))).toBe('received');
    expect(calls).toEqual([]); // a settled head needs none
    // Someone mounted the head and wrote to it: the next diff does not apply until the head is back at @2.
    const ds = `${pool.name}/headmod`;
    const mnt = join(dir, 'headmod-mnt');
    await zfs.setProps(ds, { readonly: 'off', mountpoint: mnt });
    await zfs.mount(ds);
    writeFileSync(join(mnt, 'stray'), 'x');
    await zfs.unmount(ds);
    expect(await importStream({ zfs: counting, log, decompressor }, opts('headmod', s.inc23!))).toBe('received');
    expect(calls).toEqual([`${ds}@2`]);
    expect(await zfs.getProp(ds, 'readonly')).toBe('on');
    await expectImage('headmod', 3);
  });

  it('retries a busy recv with the same verified file from offset 0 (xz and uncompressed)', async () => {
    for (const [name, full] of [['busyxz', s.full1!], ['busyraw', s.full1raw!]] as const) {
      let calls = 0;
      const flaky: Zfs = Object.assign(Object.create(zfs) as Zfs, {
        recv: async (target: string, stdin: number | Readable) => {
          if (++calls > 1) return zfs.recv(target, stdin);
          // Consume part of the stream the way a recv that then hits "busy" does, moving the shared offset.
          if (typeof stdin === 'number') readSync(stdin, Buffer.alloc(5000), 0, 5000, null);
          else await new Promise((r) => stdin.once('data', r)).finally(() => stdin.destroy());
          throw new ZfsError('E_ZFS_BUSY', 'dataset is busy', { context: { stderr: 'dataset is busy' } });
        },
      });
      expect(await importStream({ zfs: flaky, log, decompressor }, opts(name, full))).toBe('received');
      expect(calls).toBe(2);
      await expectImage(name, 1);
    }
  });

  it('gives up with E_ZFS_BUSY once busyTimeoutSec is spent, receiving nothing', async () => {
    const busy: Zfs = Object.assign(Object.create(zfs) as Zfs, {
      recv: async (_t: string, stdin: number | Readable) => {
        if (typeof stdin !== 'number') stdin.destroy();
        throw new ZfsError('E_ZFS_BUSY', 'dataset is busy', { context: { stderr: 'dataset is busy' } });
      },
    });
    await expect(importStream({ zfs: busy, log, decompressor }, opts('busyforever', s.full1!, { busyTimeoutSec: 1 }))).rejects.toMatchObject({ code: 'E_ZFS_BUSY' });
    expect(await zfs.exists(`${pool.name}/busyforever`)).toBe(false);
  });

  it('a recv whose feeding process dies mid-stream leaves no snapshot; the next import succeeds', async () => {
    await importStream({ zfs, log, decompressor }, opts('feeder', s.full1!));
    const raw = join(dir, 'inc12.raw');
    await makeSendFile(`${pub.dataset}@1`, `${pub.dataset}@2`, raw, 'none');
    const feeder = spawn('sh', ['-c', `head -c 20000 '${raw}'; exec sleep 60`], { stdio: ['ignore', 'pipe', 'ignore'] });
    const recv = zfs.recv(`${pool.name}/feeder@2`, feeder.stdout).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 1000));
    feeder.kill('SIGKILL');
    expect(await recv).toMatchObject({ code: 'E_ZFS_RECV' });
    expect(await versionsOf('feeder')).toEqual([1]);
    expect(await importStream({ zfs, log, decompressor }, opts('feeder', s.inc12!))).toBe('received');
    await expectImage('feeder', 2);
  });

  it('an orphaned receive of the same version still running: the version ends up present once, image intact', async () => {
    await importStream({ zfs, log, decompressor }, opts('orphan', s.full1!));
    const raw = join(dir, 'inc12-orphan.raw');
    await makeSendFile(`${pub.dataset}@1`, `${pub.dataset}@2`, raw, 'none');
    await zfs.rollback(`${pool.name}/orphan@1`); // busy-retried: the dataset is briefly busy after its unmount
    // A slow writer, as an xz left behind by a killed agent would be.
    const feeder = spawn('sh', ['-c', `head -c 1000 '${raw}'; sleep 3; tail -c +1001 '${raw}'`], { stdio: ['ignore', 'pipe', 'ignore'] });
    const orphan = zfs.recv(`${pool.name}/orphan@2`, feeder.stdout).then(() => 'ok', (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 500));
    // zfs-fuse lets our rollback through during the orphan's recv, which then fails "busy" at its end; or the
    // import waits it out and finds the snapshot. Either way: one @2, and the right bytes.
    expect(['received', 'already']).toContain(await importStream({ zfs, log, decompressor }, opts('orphan', s.inc12!)));
    const o = await orphan;
    expect(o === 'ok' || (o as { code?: string }).code === 'E_ZFS_BUSY').toBe(true);
    expect(await versionsOf('orphan')).toEqual([1, 2]);
    await expectImage('orphan', 2);
  });
});
