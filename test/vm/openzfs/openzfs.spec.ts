// OpenZFS in a real guest: builds the OpenZFS root (modules cached apart), boots it twice under TCG, runs the Zfs
// adapter contract inside on zfs-fuse's streams, and checks the zfs units import the pool at the next boot.
// Run alone: npx vitest run -c test/vm/openzfs/vitest.openzfs.config.ts (not part of npm run e2e).
import { copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImageVersions, createPool, makeSendFile, type TestPool } from '../../support/zfs-pool.js';
import { openZfsRootTar, type OpenZfsRoot } from '../support/openzfs-root.js';

const PROJECT = resolve(import.meta.dirname, '../../..');
const CACHE = process.env['UA_OPENZFS_CACHE'] ?? join(PROJECT, '.cache', 'vm-openzfs');
const RUN = join(CACHE, 'run');
const GUEST_DIR = '/opt/ua';
const log = (s: string): void => console.log(`[openzfs] ${s}`);

interface Boot { seconds: number; lines: string[]; console: string }

/** One boot straight into the root's kernel (no Grub: this suite is about ZFS, not the boot chain). */
async function bootGuest(root: OpenZfsRoot, tree: string, disks: string[], limitSec: number): Promise<Boot> {
  const out = join(RUN, 'ttyS1.log');
  const con = join(RUN, 'console.log');
  rmSync(out, { force: true });
  rmSync(con, { force: true });
  const args = ['-machine', 'q35,accel=tcg', '-cpu', 'max', '-smp', '2', '-m', '1024', '-nodefaults', '-no-user-config',
    '-display', 'none', '-monitor', 'none', '-nic', 'none', '-no-reboot', '-serial', `file:${con}`, '-serial', `file:${out}`,
    '-kernel', join(tree, `boot/vmlinuz-${root.kver}`), '-initrd', join(tree, `boot/initrd.img-${root.kver}`),
    '-append', 'root=/dev/vda rw console=ttyS0 quiet systemd.show_status=1'];
  for (const d of disks) args.push('-drive', `file=${d},format=raw,if=virtio,cache=unsafe`);
  const started = Date.now();
  const r = await execa('qemu-system-x86_64', args, { reject: false, timeout: limitSec * 1000, stdin: 'ignore', all: true });
  const seconds = (Date.now() - started) / 1000;
  const text = (p: string): string => (statSync(p, { throwIfNoEntry: false }) ? readFileSync(p, 'utf8') : '');
  const lines = text(out).split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.startsWith('E2E '));
  if (r.timedOut) throw new Error(`guest did not power off within ${limitSec}s; console tail:\n${text(con).slice(-4000)}`);
  return { seconds, lines, console: text(con) };
}

const marks = (b: Boot, kind: string): string[] => b.lines.filter((l) => l.startsWith(`E2E ${kind} `)).map((l) => l.slice(kind.length + 5));

describe('OpenZFS guest', () => {
  let root: OpenZfsRoot;
  let pub: TestPool | undefined;
  const tree = join(RUN, 'tree');
  const rootDisk = join(RUN, 'root.raw');
  const poolDisk = join(RUN, 'pool.raw');
  let boot1: Boot;

  beforeAll(async () => {
    let t = Date.now();
    root = await openZfsRootTar(PROJECT, CACHE, log);
    log(`root ready in ${((Date.now() - t) / 1000).toFixed(0)} s: ${root.tar} (${(statSync(root.tar).size / 2 ** 20).toFixed(0)} MiB), kernel ${root.kver}, zfs ${root.zfsVersion}`);
    rmSync(RUN, { recursive: true, force: true });
    mkdirSync(tree, { recursive: true });
    await execa('tar', ['-C', tree, '-xf', root.tar]);
    // The project as the guest runs it: sources, tests, dependencies (no symlinks), and a Node >= 20.19 of its own.
    const ua = join(tree, GUEST_DIR.slice(1));
    for (const p of ['src', 'test', 'package.json', 'tsconfig.json']) cpSync(join(PROJECT, p), join(ua, p), { recursive: true, dereference: true });
    cpSync(join(PROJECT, 'node_modules'), join(ua, 'node_modules'), { recursive: true, dereference: true });
    mkdirSync(join(ua, 'node/bin'), { recursive: true });
    copyFileSync(process.execPath, join(ua, 'node/bin/node'));
    copyFileSync(join(PROJECT, 'test/vm/openzfs/guest/run-contract'), join(ua, 'run-contract'));
    copyFileSync(join(PROJECT, 'test/vm/openzfs/guest/ua-contract.service'), join(tree, 'etc/systemd/system/ua-contract.service'));
    symlinkSync('/etc/systemd/system/ua-contract.service', join(tree, 'etc/systemd/system/multi-user.target.wants/ua-contract.service'));
    // The publisher stays on the host's zfs-fuse, as in the real-boot suite: its streams are what the guest receives.
    const work = join(RUN, 'pub');
    mkdirSync(work, { recursive: true });
    pub = await createPool(work, 'ozpub', 256);
    const images = await buildImageVersions(pub, { workDir: work, count: 2, sizeMiB: 32 });
    const fixDir = join(ua, 'fixture');
    mkdirSync(fixDir, { recursive: true });
    await makeSendFile(null, `${images.dataset}@1`, join(fixDir, 'full1.zfs'), 'none');
    await makeSendFile(`${images.dataset}@1`, `${images.dataset}@2`, join(fixDir, 'inc12.zfs'), 'none');
    const guestFix = join(GUEST_DIR, 'fixture');
    writeFileSync(join(fixDir, 'fixture.json'), JSON.stringify({
      dir: '/var/tmp/ua-contract',
      pub: { dataset: images.dataset, imagePath: images.imagePath, versions: images.versions },
      full1: join(guestFix, 'full1.zfs'),
      inc12: join(guestFix, 'inc12.zfs'),
    }));
    mkdirSync(join(tree, 'var/tmp/ua-contract'), { recursive: true });
    // mmdebstrap's minbase root has no /etc/hosts: vitest's server resolves localhost.
    writeFileSync(join(tree, 'etc/hosts'), '127.0.0.1 localhost\n::1 localhost\n');
    const usedMiB = Number((await execa('du', ['-sm', tree])).stdout.split('\t')[0]);
    await execa('mkfs.ext4', ['-q', '-F', '-L', 'uaroot', '-d', tree, rootDisk, `${usedMiB + 768}M`]);
    await execa('truncate', ['-s', '256M', poolDisk]);
    log(`disks ready in ${((Date.now() - t) / 1000).toFixed(0)} s (root tree ${usedMiB} MiB)`);
    t = Date.now();
    boot1 = await bootGuest(root, tree, [rootDisk, poolDisk], 40 * 60);
    log(`boot 1: ${boot1.seconds.toFixed(0)} s\n${boot1.lines.filter((l) => !l.startsWith('E2E log ')).join('\n')}`);
  });

  afterAll(async () => {
    await pub?.destroy();
  });

  it('loads the cached zfs modules with the ARC capped, and the contract passes inside against OpenZFS', () => {
    expect(marks(boot1, 'arc-max')).toEqual([String(128 << 20)]);
    expect(marks(boot1, 'pool-at-boot')).toEqual(['none']);
    const contract = marks(boot1, 'log').join('\n');
    log(`contract output:\n${contract}`);
    expect(marks(boot1, 'contract-exit')[0]).toMatch(/^0 /);
    expect(contract).toMatch(/Tests\s+\d+ passed/);
    expect(contract).not.toMatch(/failed/);
    expect(marks(boot1, 'pool-created')).toEqual(['ozboot']);
  });

  it('the zfs units import the pool at the next boot (from the cache file)', async () => {
    const boot2 = await bootGuest(root, tree, [rootDisk, poolDisk], 10 * 60);
    log(`boot 2: ${boot2.seconds.toFixed(0)} s\n${boot2.lines.join('\n')}`);
    expect(marks(boot2, 'pool-at-boot')[0]).toMatch(/^ozboot ONLINE cachefile=/);
    expect(marks(boot2, 'units')[0]).toMatch(/^active active/);
  });
});
