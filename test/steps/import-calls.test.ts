// How many `zfs` processes importStream runs around the receive, counted through a logging wrapper around the binary.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XzCli } from '../../src/adapters/decompress.js';
import { ZfsCli } from '../../src/adapters/zfs.js';
import { silentLogger } from '../../src/log.js';
import { importStream, type ImportOptions } from '../../src/steps/import.js';
import { buildImageVersions, createPool, makeSendFile, type PublishedImages, type TestPool } from '../support/zfs-pool.js';

type Stream = { path: string; size: number; sha256: string; from: number | null; to: number };

let dir: string;
let pool: TestPool;
let pub: PublishedImages;
let wrapper: string;
let calls: string;
const s: Record<string, Stream> = {};
const log = silentLogger();
const decompressor = new XzCli();

async function stream(name: string, from: number | null, to: number): Promise<void> {
  const path = join(dir, `${name}.zfs`);
  s[name] = { path, from, to, ...(await makeSendFile(from === null ? null : `${pub.dataset}@${from}`, `${pub.dataset}@${to}`, path, 'none')) };
}

function opts(dataset: string, st: Stream): ImportOptions {
  return {
    streamPath: st.path, size: st.size, sha256: st.sha256, compression: 'none',
    pool: pool.name, dataset, fromVersion: st.from, toVersion: st.to, busyTimeoutSec: 20,
  };
}

/** One import with a fresh adapter (as a fresh process has: nothing probed yet); returns its `zfs` subcommands in order. */
async function counted(o: ImportOptions): Promise<{ result: string; zfs: string[] }> {
  writeFileSync(calls, '');
  const result = await importStream({ zfs: new ZfsCli({ busyTimeoutSec: 20, bin: wrapper }), log, decompressor }, o);
  return { result, zfs: readFileSync(calls, 'utf8').split('\n').filter((l) => l !== '') };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'importctl-'));
  pool = await createPool(dir, 'timpctl', 256);
  pub = await buildImageVersions(pool, { workDir: dir, count: 2, sizeMiB: 16 });
  await stream('full1', null, 1);
  await stream('full2', null, 2);
  await stream('inc12', 1, 2);
  calls = join(dir, 'zfs-calls.log');
  wrapper = join(dir, 'zfs-counting');
  // The usage probe runs `zfs` without a command.
  writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "\${1:-(usage)}" >> '${calls}'\nexec zfs "$@"\n`);
  chmodSync(wrapper, 0o755);
});

afterAll(async () => {
  await pool?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('importStream: zfs processes', () => {
  it('an incremental onto a settled head: one listing and the receive; a re-import: the listing alone', async () => {
    expect((await counted(opts('inc', s.full1!))).result).toBe('received');
    // Was: the usage probe too (3 processes).
    expect(await counted(opts('inc', s.inc12!))).toEqual({ result: 'received', zfs: ['get', 'recv'] });
    expect(await counted(opts('inc', s.inc12!))).toEqual({ result: 'already', zfs: ['get'] });
    const zfs = new ZfsCli();
    expect((await zfs.view(`${pool.name}/inc`)).get(`${pool.name}/inc`)).toMatchObject({ mounted: false, readonly: 'on', canmount: 'noauto', atime: 'off' });
    expect((await zfs.snapshots(`${pool.name}/inc`)).map((x) => x.version)).toEqual([1, 2]);
  });

  it('a full stream swapped in lists twice (before the receive, before the swap), and leaves the head settled', async () => {
    await counted(opts('swap', s.full1!));
    const r = await counted(opts('swap', s.full2!));
    expect(r.result).toBe('received');
    // Was 3: a last listing after the swap.
    expect(r.zfs.filter((c) => c === 'get')).toHaveLength(2);
    expect(r.zfs.filter((c) => c === 'rename')).toHaveLength(2);
    const zfs = new ZfsCli();
    const ds = `${pool.name}/swap`;
    const view = await zfs.view(ds);
    expect(view.get(ds)).toMatchObject({ mounted: false, readonly: 'on', canmount: 'noauto', atime: 'off' });
    expect(view.snapshots(ds).map((x) => x.version)).toEqual([2]);
    expect(view.exists(`${ds}.full`) || view.exists(`${ds}.old`)).toBe(false);
    // And the next incremental onto it is the short path again.
    expect(await counted(opts('swap', s.inc12!))).toEqual({ result: 'already', zfs: ['get'] });
  });
});
