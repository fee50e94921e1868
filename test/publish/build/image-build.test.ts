// image build on real zfs-fuse, rsync, loop mounts and e2fsck: contents, scrubbing, small diffs, refusals.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeSendFile } from '../../support/zfs-pool.js';
import { buildSandbox, type BuildSandbox } from '../../support/build-fixture.js';
import { makeTree } from '../../support/root-tree.js';
import { copyChanged } from '../../../src/publish/build/block-copy.js';
import { treeDigest } from '../../../src/publish/build/tree-hash.js';
import { UpgradeError } from '../../../src/errors.js';

let sb: BuildSandbox;
let tree1: string;
let tree2: string;

beforeAll(async () => {
  sb = await buildSandbox('build');
  tree1 = makeTree(join(sb.base, 'tree1'), { release: 1 });
  tree2 = makeTree(join(sb.base, 'tree2'), { release: 2 });
});
afterAll(async () => {
  await sb?.close();
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof UpgradeError ? err.code : `not an UpgradeError: ${String(err)}`;
  }
  return 'resolved';
}

describe('image build', () => {
  let ds: string;

  it('builds a first version from a tree into a new image (--size), then the next into it', async () => {
    ds = await sb.dataset('inc');
    const r1 = await sb.build({ dataset: ds, version: 1, tree: tree1, sizeMiB: 64 });
    expect(r1.snapshot).toBe(`${ds}@1`);
    expect(r1.contents.base).toBeNull();
    const r2 = await sb.build({ dataset: ds, version: 2, tree: tree2 });
    expect(r2.contents.base).toBe(1);
    expect((await sb.zfs.snapshots(ds)).map((s) => s.version)).toEqual([1, 2]);
    // Nothing is left mounted, attached or on disk in the work directory.
    expect(existsSync(join(sb.workDir, ds.replaceAll('/', '_')))).toBe(false);
    expect(sb.mountsUnder(sb.workDir)).toEqual([]);
    expect(await sb.loopsUnder(sb.workDir)).toEqual([]);
    // What it records is in the snapshot beside the image.
    expect(r2.contents.packages).toEqual([
      { name: 'base-files', version: '12.4', architecture: 'amd64' },
      { name: 'libc6', version: '2.36-9+deb12u2', architecture: 'amd64' },
      { name: 'upgrade-agent', version: '1.0.0', architecture: 'amd64' },
    ]);
    const mnt = (await sb.zfs.mountpoint(ds)) as string;
    expect(JSON.parse(readFileSync(join(mnt, 'root.img.contents.json'), 'utf8'))).toEqual(r2.contents);
  });

  it('the image holds the new tree exactly: deletions, hard links, owners, modes, mtimes, xattrs, devices', async () => {
    await sb.inspect(`${ds}@2`, async (root) => {
      expect(readFileSync(join(root, 'etc/version'), 'utf8')).toBe('release 2\n');
      expect(existsSync(join(root, 'usr/lib/app/part-001.bin'))).toBe(false); // deleted in release 2
      expect(existsSync(join(root, 'usr/lib/app/new-1.bin'))).toBe(false);
      expect(readFileSync(join(root, 'usr/lib/app/new-2.bin')).equals(readFileSync(join(tree2, 'usr/lib/app/new-2.bin')))).toBe(true);
      expect(readFileSync(join(root, 'usr/lib/app/part-002.bin')).equals(readFileSync(join(tree2, 'usr/lib/app/part-002.bin')))).toBe(true);
      expect(statSync(join(root, 'usr/bin/tool-a')).ino).toBe(statSync(join(root, 'usr/bin/tool-b')).ino);
      const secret = statSync(join(root, 'srv/data/secret'));
      expect([secret.uid, secret.gid, secret.mode & 0o7777, secret.mtimeMs]).toEqual([1234, 5678, 0o640, 1_600_000_000_000]);
      expect(execFileSync('getfattr', ['--only-values', '-n', 'user.origin', join(root, 'srv/data/secret')]).toString()).toBe('tree');
      const dev = lstatSync(join(root, 'dev/null'));
      expect([dev.isCharacterDevice(), dev.rdev]).toEqual([true, lstatSync(join(tree2, 'dev/null')).rdev]);
      expect(readlinkSync(join(root, 'vmlinuz'))).toBe('boot/vmlinuz-6.1.0');
      expect(existsSync(join(root, 'lost+found'))).toBe(true);
      // Its digest is the one recorded, and the same as the tree's own once scrubbed the same way.
      const contents = JSON.parse(readFileSync(join((await sb.zfs.mountpoint(ds)) as string, 'root.img.contents.json'), 'utf8')) as { treeSha256: string };
      expect((await treeDigest(root, ['/lost+found'])).sha256).toBe(contents.treeSha256);
    });
  });

  it('scrubs per-machine state and keeps the rest', async () => {
    const r = await sb.inspect(`${ds}@2`, async (root) => ({
      machineId: statSync(join(root, 'etc/machine-id')).size,
      hostKeys: ['ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub'].filter((k) => existsSync(join(root, 'etc/ssh', k))),
      sshdConfig: existsSync(join(root, 'etc/ssh/sshd_config')),
      udev: existsSync(join(root, 'etc/udev/rules.d/70-persistent-net.rules')),
      lease: existsSync(join(root, 'var/lib/dhcp/dhclient.eth0.leases')),
    }));
    expect(r).toEqual({ machineId: 0, hostKeys: [], sshdConfig: true, udev: false, lease: false });
  });

  it('zeroes the blocks it frees: a deleted file\'s bytes are in @1\'s image and not in @2\'s', async () => {
    const needle = readFileSync(join(tree1, 'usr/lib/app/part-001.bin')).subarray(16384, 20480);
    const has = async (snap: string): Promise<boolean> => {
      const copy = await sb.copyOut(snap);
      try {
        return readFileSync(copy).includes(needle);
      } finally {
        rmSync(copy, { force: true });
      }
    };
    expect(await has(`${ds}@1`)).toBe(true);
    expect(await has(`${ds}@2`)).toBe(false);
    // --no-trim leaves them where they were.
    const kept = await sb.dataset('notrim');
    await sb.build({ dataset: kept, version: 1, tree: tree1, sizeMiB: 64 });
    await sb.build({ dataset: kept, version: 2, tree: tree2, noTrim: true });
    expect(await has(`${kept}@2`)).toBe(true);
  });

  it('built into the previous image, the diff is a fraction of one rebuilt from scratch (mkfs.ext4 -d)', async () => {
    const scratch = await sb.dataset('scratch');
    const mnt = (await sb.zfs.mountpoint(scratch)) as string;
    for (const [v, tree] of [[1, tree1], [2, tree2]] as const) {
      const img = join(sb.base, `scratch-${v}.img`);
      execFileSync('mkfs.ext4', ['-q', '-F', '-d', tree, img, '64M']);
      await copyChanged(img, join(mnt, 'root.img')); // only changed chunks: the scratch image's best case
      await execa('zfs', ['snapshot', `${scratch}@${v}`]);
    }
    const ours = await makeSendFile(`${ds}@1`, `${ds}@2`, join(sb.base, 'ours.zfs.xz'));
    const theirs = await makeSendFile(`${scratch}@1`, `${scratch}@2`, join(sb.base, 'scratch.zfs.xz'));
    // Release 2 changes ~200 KiB of incompressible files out of ~2.9 MiB.
    console.log(`zfs send -i, xz: built into @1 ${ours.size} B, rebuilt from scratch ${theirs.size} B`);
    expect(ours.size).toBeLessThan(1024 * 1024);
    expect(ours.size * 3).toBeLessThan(theirs.size);
  });

  it('building the same tree again as the next version rewrites almost nothing', async () => {
    const r3 = await sb.build({ dataset: ds, version: 3, tree: tree2 });
    expect(r3.contents.treeSha256).toBe((await sb.inspect(`${ds}@2`, (root) => treeDigest(root, ['/lost+found']))).sha256);
    // The journal, superblock and the record's own churn, not the tree: 64 MiB is 512 chunks.
    expect(r3.chunksWritten).toBeGreaterThan(0);
    expect(r3.chunksWritten).toBeLessThan(16);
  });

  it('into a dataset of recordsize=4K, writes back 4 KiB pieces: the same rebuild sends less than at 128K', async () => {
    const small = `${sb.pool.name}/rs4k`;
    await execa('zfs', ['create', '-o', 'recordsize=4K', small]);
    await sb.build({ dataset: small, version: 1, tree: tree1, sizeMiB: 64 });
    await sb.build({ dataset: small, version: 2, tree: tree2 });
    const r3 = await sb.build({ dataset: small, version: 3, tree: tree2 });
    // 64 MiB is 16384 pieces of 4 KiB; the 128K dataset's @3 above wrote whole 128 KiB chunks.
    expect(r3.chunksWritten).toBeGreaterThan(0);
    const at4k = await makeSendFile(`${small}@2`, `${small}@3`, join(sb.base, 'rs4k.zfs'), 'none');
    const at128k = await makeSendFile(`${ds}@2`, `${ds}@3`, join(sb.base, 'rs128k.zfs'), 'none');
    console.log(`same tree rebuilt, zfs send -i: recordsize 4K ${at4k.size} B (${r3.chunksWritten} pieces), 128K ${at128k.size} B`);
    expect(at4k.size * 4).toBeLessThan(at128k.size);
  });
});

describe('image build refuses', () => {
  it('a tree without a kernel or initrd, or without the agent, before any effect', async () => {
    const ds = await sb.dataset('refuse');
    const noKernel = makeTree(join(sb.base, 'no-kernel'), { release: 1, kernel: false, files: 2 });
    const noAgent = makeTree(join(sb.base, 'no-agent'), { release: 1, agent: false, files: 2 });
    expect(await codeOf(sb.build({ dataset: ds, version: 1, tree: noKernel, sizeMiB: 32 }))).toBe('E_BUILD_NO_KERNEL');
    expect(await codeOf(sb.build({ dataset: ds, version: 1, tree: noAgent, sizeMiB: 32 }))).toBe('E_BUILD_NO_AGENT');
    expect(await codeOf(sb.build({ dataset: ds, version: 1, tree: join(sb.base, 'nowhere'), sizeMiB: 32 }))).toBe('E_BUILD_TREE');
    expect(await codeOf(sb.build({ dataset: ds, version: 1, tree: tree1 }))).toBe('E_BUILD_BASE');
    expect(await codeOf(sb.build({ dataset: `${sb.pool.name}/absent`, version: 1, tree: tree1, sizeMiB: 32 }))).toBe('E_BUILD_BASE');
    expect(await codeOf(sb.build({ dataset: ds, version: 1, tree: tree1, sizeMiB: 32, workDir: join(sb.pool.mountpoint, 'work') }))).toBe('E_BUILD_WORKDIR');
    expect(await sb.zfs.snapshots(ds)).toEqual([]);
    expect(existsSync(join(sb.workDir, ds.replaceAll('/', '_')))).toBe(false);
  });

  it('a version that exists or is below the newest snapshot', async () => {
    const ds = `${sb.pool.name}/inc`;
    expect(await codeOf(sb.build({ dataset: ds, version: 2, tree: tree1 }))).toBe('E_BUILD_VERSION');
    expect(await codeOf(sb.build({ dataset: ds, version: 1, tree: tree1 }))).toBe('E_BUILD_VERSION');
  });
});
