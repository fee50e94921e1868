// ZfsCli against real zfs-fuse: the adapter contract on a pool with inherited mountpoints and on a `-m none` pool, and what zfs-fuse supports.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZfsCli, isBusyMessage, parseCapabilities, snapshotVersion } from '../../src/adapters/zfs.js';
import { buildImageVersions, createPool, makeSendFile, type TestPool } from '../support/zfs-pool.js';
import { zfsContract, type ContractFixture } from './zfs-contract.js';

let pubPool: TestPool;
let fx: ContractFixture;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zfs-adapter-'));
  pubPool = await createPool(dir, 'tadpub', 256);
  const pub = await buildImageVersions(pubPool, { workDir: dir, count: 2, sizeMiB: 32 });
  const full1 = join(dir, 'full1.zfs');
  const inc12 = join(dir, 'inc12.zfs');
  await makeSendFile(null, `${pub.dataset}@1`, full1, 'none');
  await makeSendFile(`${pub.dataset}@1`, `${pub.dataset}@2`, inc12, 'none');
  fx = { dir, pub, full1, inc12 };
});

afterAll(async () => {
  await pubPool?.destroy();
  if (fx) rmSync(fx.dir, { recursive: true, force: true });
});

const adapter = (): ZfsCli => new ZfsCli({ busyTimeoutSec: 30 });
zfsContract('zfs-fuse, inherited mountpoints', { adapter, fixture: () => fx, newPool: (dir) => createPool(dir, 'tad', 128) });
zfsContract('zfs-fuse, pool created with -m none', { adapter, fixture: () => fx, newPool: (dir) => createPool(dir, 'tadnone', 128, { mountpoint: 'none' }) });

describe('snapshot names', () => {
  it('parses integer versions only', () => {
    expect(snapshotVersion('p/ds@12')).toBe(12);
    expect(snapshotVersion('p/ds@v12')).toBeNull();
    expect(snapshotVersion('p/ds@1.5')).toBeNull();
    expect(snapshotVersion('p/ds')).toBeNull();
    expect(isBusyMessage("cannot destroy 'p/x': dataset is busy")).toBe(true);
  });
});

/** The lines of OpenZFS 2.1's `zfs` usage that the probe reads (its wording, tabs included). */
const OPENZFS_USAGE = [
  'usage: zfs command args ...',
  "where 'command' is one of the following:",
  '',
  '\tlist [-Hp] [-r|-d max] [-o property[,...]] [-s property]...',
  '\t    [-S property]... [-t type[,...]] [filesystem|volume|snapshot] ...',
  '',
  '\tset <property=value> ... <filesystem|volume|snapshot> ...',
  '',
  '\tsend [-DLPbcehnpsvw] [-[i|I] snapshot] <snapshot>',
  '\tsend [-DnVvPLecw] [-i snapshot|bookmark] <filesystem|volume|snapshot>',
  '\tsend [-nVvPe] -t <receive_resume_token>',
  '\treceive [-vMnsFhu] [-o <property>=<value>] ... [-x <property>] ...',
  '\t    <filesystem|volume|snapshot>',
  '\treceive -A <filesystem|volume>',
  '',
].join('\n');

describe('capabilities', () => {
  it('zfs-fuse 0.7, probed from the installed zfs: no resumable receive, no zvols, no list -p, no recv -u/-o, one property per set', async () => {
    expect(await adapter().capabilities()).toEqual({
      resumableReceive: false, receiveNoMount: false, receiveProps: false, parseableList: false, multiSet: false, zvols: false,
    });
  });

  it('OpenZFS usage text: every capability read from its lines; zvols only with the kernel module', () => {
    expect(parseCapabilities(OPENZFS_USAGE, true)).toEqual({
      resumableReceive: true, receiveNoMount: true, receiveProps: true, parseableList: true, multiSet: true, zvols: true,
    });
    expect(parseCapabilities(OPENZFS_USAGE, false).zvols).toBe(false);
    expect(parseCapabilities('', false)).toEqual({
      resumableReceive: false, receiveNoMount: false, receiveProps: false, parseableList: false, multiSet: false, zvols: false,
    });
  });
});
