// The initramfs local-bottom script in a fake initramfs: stubbed busybox/modprobe/panic, real e2fsck on real ext4 images.
//
// Each test builds a temporary tree T and runs initramfs-hooks/scripts/local-bottom/upgrade-agent
// with UA_TEST_ROOT=T and rootmnt=T/root, as initramfs-tools would after mounting root= there:
//   T/proc/cmdline          the kernel command line under test
//   T/root/images/v1.img    the outer partition's content (a real ext4 image made with mkfs.ext4 -d)
//   T/scripts/functions     test/initramfs/stubs/functions (panic records and exits 42)
//   T/dev/kmsg, T/run/initramfs/
// test/initramfs/stubs is first on PATH: busybox and modprobe are stand-ins that record their argv
// in T/calls.log and simulate loop devices (symlinks T/dev/loopN) and mount moves (directory
// renames); e2fsck records and then runs the real e2fsck on the "loop device", so a damaged image
// is a real fsck failure. Every case runs under two shells: dash (POSIX, and klibc's sh, the
// initramfs /bin/sh when busybox is absent, is a dash port) and busybox ash (the initramfs /bin/sh
// when busybox is installed: its initramfs hook links the applets before klibc-utils' hook copies
// its tools without overwriting). busybox-static's ash runs its applets (mount, losetup, modprobe,
// and `busybox X` itself) ahead of PATH, so there the stubs are bound as shell functions, which ash
// looks up before applets, and the script is sourced.
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const SCRIPT = join(repo, 'initramfs-hooks/scripts/local-bottom/upgrade-agent');
const HOOK = join(repo, 'initramfs-hooks/hooks/upgrade-agent');
const STUBS = join(here, 'stubs');
const PANIC_EXIT = 42; // the stub panic's exit code, standing in for `reboot -f`

let fixtures: string;
const images = { good: '', noHost: '', damaged: '', unclean: '' };

async function mkfs(name: string, content: Record<string, string>, dirs: string[]): Promise<string> {
  const src = join(fixtures, `${name}.d`);
  for (const d of dirs) mkdirSync(join(src, d), { recursive: true });
  for (const [file, text] of Object.entries(content)) {
    mkdirSync(dirname(join(src, file)), { recursive: true });
    writeFileSync(join(src, file), text);
  }
  const img = join(fixtures, `${name}.img`);
  await execa('mkfs.ext4', ['-q', '-F', '-d', src, img, '8M']);
  return img;
}

beforeAll(async () => {
  fixtures = mkdtempSync(join(tmpdir(), 'ua-initramfs-fix-'));
  const osDirs = ['host', 'sbin', 'etc', 'dev', 'proc', 'sys', 'run'];
  images.good = await mkfs('good', { 'etc/version': '1\n', 'sbin/init': '#!/bin/sh\n' }, osDirs);
  images.noHost = await mkfs('nohost', { 'etc/version': '1\n' }, osDirs.filter((d) => d !== 'host'));
  // Damaged: the primary superblock zeroed. e2fsck cannot open it (exit 8) in -n and -p mode.
  images.damaged = join(fixtures, 'damaged.img');
  copyFileSync(images.good, images.damaged);
  await execa('dd', ['if=/dev/zero', `of=${images.damaged}`, 'bs=1024', 'seek=1', 'count=1', 'conv=notrunc']);
  // Unclean: not cleanly unmounted and a wrong free-block count; e2fsck -p fixes it and exits 1.
  images.unclean = join(fixtures, 'unclean.img');
  copyFileSync(images.good, images.unclean);
  await execa('debugfs', ['-w', '-R', 'ssv free_blocks_count 10', images.unclean]);
  await execa('debugfs', ['-w', '-R', 'ssv state 0', images.unclean]);
});

afterAll(() => {
  if (fixtures) rmSync(fixtures, { recursive: true, force: true });
});

interface Setup {
  cmdline: string;
  /** image copied to T/root/images/v1.img; null: no image file */
  image?: string | null;
  /** STUB_FAIL operations (see stubs/busybox) */
  fail?: string[];
  env?: Record<string, string>;
}

type Shell = 'dash' | 'busybox ash';
const SHELLS: Shell[] = ['dash', 'busybox ash'];

// For busybox ash: stubs as shell functions (found before applets), then the script, sourced.
const ASH_WRAPPER = [
  'busybox() { "$UA_STUBS/busybox" "$@"; }',
  'modprobe() { "$UA_STUBS/modprobe" "$@"; }',
  'e2fsck() { "$UA_STUBS/e2fsck" "$@"; }',
  '. "$UA_SCRIPT"',
].join('\n');

interface Run {
  t: string;
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** recorded calls, with T written as $T */
  calls: string[];
  kmsg: string[];
}

const trees: string[] = [];
afterAll(() => {
  for (const t of trees) rmSync(t, { recursive: true, force: true });
});

function makeTree(s: Setup): string {
  const t = mkdtempSync(join(tmpdir(), 'ua-initramfs-'));
  trees.push(t);
  for (const d of ['root/images', 'scripts', 'proc', 'dev', 'run/initramfs']) mkdirSync(join(t, d), { recursive: true });
  copyFileSync(join(STUBS, 'functions'), join(t, 'scripts/functions'));
  writeFileSync(join(t, 'proc/cmdline'), `${s.cmdline}\n`);
  writeFileSync(join(t, 'dev/kmsg'), '');
  writeFileSync(join(t, 'calls.log'), '');
  const image = s.image === undefined ? images.good : s.image;
  if (image) copyFileSync(image, join(t, 'root/images/v1.img'));
  return t;
}

async function runWith(shell: Shell, t: string, s: Setup): Promise<Run> {
  const cmd = shell === 'dash' ? 'dash' : '/bin/busybox';
  const args = shell === 'dash' ? [SCRIPT] : ['sh', '-c', ASH_WRAPPER, 'upgrade-agent'];
  const r = await execa(cmd, args, {
    reject: false,
    extendEnv: false,
    env: {
      PATH: `${STUBS}:/usr/sbin:/usr/bin:/sbin:/bin`,
      UA_TEST_ROOT: t,
      rootmnt: join(t, 'root'),
      panic: '10',
      quiet: 'n',
      STUB_FAIL: (s.fail ?? []).join(' '),
      UA_STUBS: STUBS,
      UA_SCRIPT: SCRIPT,
      ...s.env,
    },
  });
  const lines = (file: string) =>
    readFileSync(join(t, file), 'utf8').split('\n').filter((l) => l !== '').map((l) => l.split(t).join('$T'));
  return { t, exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr), calls: lines('calls.log'), kmsg: lines('dev/kmsg') };
}

const GRUB = 'BOOT_IMAGE=(loop)/vmlinuz root=/dev/vda1 ua.image=/images/v1.img panic=10';
const panics = (r: Run) => r.calls.filter((c) => c.startsWith('panic '));
const has = (r: Run, prefix: string) => r.calls.some((c) => c.startsWith(prefix));

describe.each(SHELLS)('local-bottom/upgrade-agent under %s', (shell) => {
  const runIn = (t: string, s: Setup) => runWith(shell, t, s);
  const run = (s: Setup) => runIn(makeTree(s), s);

  it('does nothing without ua.image= (a plain root boot)', async () => {
    const r = await run({ cmdline: 'BOOT_IMAGE=/vmlinuz root=/dev/vda1 panic=10 ro' });
    expect(r.exitCode).toBe(0);
    expect(r.calls).toEqual([]);
    expect(r.kmsg).toEqual([]);
    expect(existsSync(join(r.t, 'root/images/v1.img'))).toBe(true);
    expect(existsSync(join(r.t, 'host'))).toBe(false);
  });

  it('boots a good image read-only for ro: losetup -r, e2fsck -n, ext4 ro mount, /host moved into the image, read-only at its mount over a writable filesystem', async () => {
    const r = await run({ cmdline: `${GRUB} ro` });
    expect(r.stderr).not.toContain('upgrade-agent'); // no warnings (e2fsck prints its banner there)
    expect(r.exitCode).toBe(0);
    expect(r.calls).toEqual([
      'modprobe -q loop',
      'modprobe -q ext4',
      'busybox mount -n -o move $T/root $T/host',
      'busybox losetup -f',
      'busybox losetup -r $T/dev/loop0 $T/host/images/v1.img',
      'e2fsck -n $T/dev/loop0',
      'busybox mount -t ext4 -o ro $T/dev/loop0 $T/root',
      'busybox mount -n -o move $T/host $T/root/host',
      'busybox mount -n -o remount,rw $T/root/host',
      'busybox mount -n -o remount,bind,ro $T/root/host',
    ]);
    // The outer partition ends up at <image>/host; the loop device stays attached; root was checked.
    expect(existsSync(join(r.t, 'root/host/images/v1.img'))).toBe(true);
    expect(lstatSync(join(r.t, 'dev/loop0')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(r.t, 'run/initramfs/fsck-root'))).toBe(true);
    expect(r.kmsg).toEqual([
      '<6>upgrade-agent: booting image /images/v1.img (ro)',
      '<6>upgrade-agent: root is /images/v1.img on $T/dev/loop0 (ro)',
    ]);
  });

  it('boots read-write for rw: no -r, e2fsck -p, ext4 rw mount, /host left rw (the image file is open for writing)', async () => {
    const r = await run({ cmdline: `${GRUB} rw` });
    expect(r.exitCode).toBe(0);
    expect(r.calls).toContain('busybox losetup $T/dev/loop0 $T/host/images/v1.img');
    expect(r.calls).toContain('e2fsck -p $T/dev/loop0');
    expect(r.calls).toContain('busybox mount -t ext4 -o rw $T/dev/loop0 $T/root');
    expect(r.calls).toContain('busybox mount -n -o move $T/host $T/root/host');
    expect(r.calls.some((c) => c.includes('losetup -r'))).toBe(false);
    expect(r.calls.some((c) => c.includes('remount'))).toBe(false);
    expect(r.stdout).toContain('upgrade-agent: /host stays read-write');
  });

  it('follows the last of ro/rw, as initramfs-tools does', async () => {
    const ro = await run({ cmdline: `${GRUB} rw ro` });
    expect(ro.calls).toContain('busybox losetup -r $T/dev/loop0 $T/host/images/v1.img');
    const rw = await run({ cmdline: `${GRUB} ro rw` });
    expect(rw.calls).toContain('busybox losetup $T/dev/loop0 $T/host/images/v1.img');
    // Neither given: the kernel's default, read-only.
    const none = await run({ cmdline: GRUB });
    expect(none.calls).toContain('busybox losetup -r $T/dev/loop0 $T/host/images/v1.img');
  });

  it('panics "image missing" when the image file is absent, without attaching anything', async () => {
    const r = await run({ cmdline: `${GRUB} ro`, image: null });
    expect(r.exitCode).toBe(PANIC_EXIT);
    expect(panics(r)).toEqual(['panic upgrade-agent: image missing: /images/v1.img is not a regular file on the root= partition']);
    expect(has(r, 'busybox losetup')).toBe(false);
    expect(has(r, 'e2fsck')).toBe(false);
    expect(r.stderr).toContain('upgrade-agent: image missing');
    expect(r.kmsg).toContain('<3>upgrade-agent: image missing: /images/v1.img is not a regular file on the root= partition');
  });

  it('panics "image missing" when the path is a directory or a symlink', async () => {
    const s: Setup = { cmdline: `${GRUB} ro`, image: null };
    const dirTree = makeTree(s);
    mkdirSync(join(dirTree, 'root/images/v1.img'));
    const asDir = await runIn(dirTree, s);
    expect(asDir.exitCode).toBe(PANIC_EXIT);
    expect(panics(asDir)[0]).toContain('image missing');

    const linkTree = makeTree(s);
    copyFileSync(images.good, join(linkTree, 'root/images/real.img'));
    symlinkSync('real.img', join(linkTree, 'root/images/v1.img'));
    const asLink = await runIn(linkTree, s);
    expect(asLink.exitCode).toBe(PANIC_EXIT);
    expect(panics(asLink)[0]).toContain('image missing');
    expect(has(asLink, 'busybox losetup')).toBe(false);
  });

  it('panics "image damaged" when the real e2fsck fails (zeroed superblock), and detaches the loop device', async () => {
    for (const mode of ['ro', 'rw']) {
      const r = await run({ cmdline: `${GRUB} ${mode}`, image: images.damaged });
      expect(r.exitCode).toBe(PANIC_EXIT);
      expect(panics(r)).toEqual([`panic upgrade-agent: image damaged: e2fsck ${mode === 'ro' ? '-n' : '-p'} on /images/v1.img exited 8`]);
      expect(r.calls).toContain('busybox losetup -d $T/dev/loop0');
      expect(has(r, 'busybox mount -t ext4')).toBe(false);
      expect(existsSync(join(r.t, 'dev/loop0'))).toBe(false);
      expect(existsSync(join(r.t, 'run/initramfs/fsck-root'))).toBe(false);
    }
  });

  it('boots when e2fsck -p corrects errors (exit 1, real) or asks for a reboot (exit 2); panics from exit 4', async () => {
    const fixed = await run({ cmdline: `${GRUB} rw`, image: images.unclean });
    expect(fixed.exitCode).toBe(0);
    expect(fixed.stdout).toContain('upgrade-agent: e2fsck -p corrected errors in /images/v1.img');
    expect(has(fixed, 'busybox mount -t ext4 -o rw')).toBe(true);

    const reboot = await run({ cmdline: `${GRUB} rw`, env: { STUB_E2FSCK_RC: '2' } });
    expect(reboot.exitCode).toBe(0);
    expect(reboot.stdout).toContain('asks for a reboot');
    expect(has(reboot, 'busybox mount -t ext4')).toBe(true);

    const four = await run({ cmdline: `${GRUB} ro`, env: { STUB_E2FSCK_RC: '4' } });
    expect(four.exitCode).toBe(PANIC_EXIT);
    expect(panics(four)[0]).toContain('image damaged');
    expect(four.calls).toContain('busybox losetup -d $T/dev/loop0');
  });

  it('panics when losetup cannot attach the image, with nothing to detach', async () => {
    const r = await run({ cmdline: `${GRUB} ro`, fail: ['losetup-attach'] });
    expect(r.exitCode).toBe(PANIC_EXIT);
    expect(panics(r)).toEqual(['panic upgrade-agent: image /images/v1.img: cannot attach to $T/dev/loop0 read-only']);
    expect(has(r, 'e2fsck')).toBe(false);
    expect(has(r, 'busybox losetup -d')).toBe(false);
    expect(has(r, 'busybox mount -t ext4')).toBe(false);
  });

  it('panics when there is no free loop device', async () => {
    const r = await run({ cmdline: `${GRUB} ro`, fail: ['losetup-free'] });
    expect(r.exitCode).toBe(PANIC_EXIT);
    expect(panics(r)).toEqual(['panic upgrade-agent: image /images/v1.img: no free loop device']);
    expect(r.calls.filter((c) => c.startsWith('busybox losetup'))).toEqual(['busybox losetup -f']);
  });

  it('panics when the image does not mount, and detaches the loop device', async () => {
    const r = await run({ cmdline: `${GRUB} ro`, fail: ['mount-image'] });
    expect(r.exitCode).toBe(PANIC_EXIT);
    expect(panics(r)).toEqual(['panic upgrade-agent: image /images/v1.img: cannot mount $T/dev/loop0 (ext4, ro) on $T/root']);
    const i = r.calls.indexOf('busybox mount -t ext4 -o ro $T/dev/loop0 $T/root');
    expect(i).toBeGreaterThan(0);
    expect(r.calls.slice(i + 1)).toEqual(['busybox losetup -d $T/dev/loop0', panics(r)[0]]);
    expect(existsSync(join(r.t, 'dev/loop0'))).toBe(false);
  });

  it('panics when the root= mount cannot be moved to /host, before touching the image', async () => {
    const r = await run({ cmdline: `${GRUB} ro`, fail: ['move-root'] });
    expect(r.exitCode).toBe(PANIC_EXIT);
    expect(panics(r)).toEqual(['panic upgrade-agent: cannot move the root= mount from $T/root to /host']);
    expect(has(r, 'busybox losetup')).toBe(false);
  });

  it('panics when /host cannot be moved into the image, unmounting and detaching the image', async () => {
    const r = await run({ cmdline: `${GRUB} ro`, fail: ['move-host'] });
    expect(r.exitCode).toBe(PANIC_EXIT);
    expect(panics(r)[0]).toContain('cannot move /host to $T/root/host');
    const i = r.calls.indexOf('busybox mount -n -o move $T/host $T/root/host');
    expect(r.calls.slice(i + 1)).toEqual(['busybox umount $T/root', 'busybox losetup -d $T/dev/loop0', panics(r)[0]]);
  });

  it('only warns when /host cannot be made read-only, or when the image has no /host directory', async () => {
    const busy = await run({ cmdline: `${GRUB} ro`, fail: ['remount'] });
    expect(busy.exitCode).toBe(0);
    expect(busy.kmsg).toContain("<4>upgrade-agent: warning: cannot remount /host's filesystem read-write: the agent will not be able to write to it");
    expect(busy.kmsg).toContain('<4>upgrade-agent: warning: cannot remount /host read-only');

    const noHost = await run({ cmdline: `${GRUB} ro`, image: images.noHost });
    expect(noHost.exitCode).toBe(0);
    expect(has(noHost, 'busybox mount -n -o move $T/host')).toBe(false);
    expect(noHost.stderr).toContain('upgrade-agent: warning: image /images/v1.img has no /host directory');
    expect(existsSync(join(noHost.t, 'host/images/v1.img'))).toBe(true);
  });

  it('rejects an empty or relative ua.image= before touching any mount', async () => {
    for (const [arg, msg] of [
      ['ua.image=', 'ua.image= is empty'],
      ['ua.image=images/v1.img', 'is not an absolute path'],
      ['ua.image=/images/../etc/shadow', 'must not contain ..'],
    ]) {
      const r = await run({ cmdline: `root=/dev/vda1 ${arg} panic=10 ro` });
      expect(r.exitCode).toBe(PANIC_EXIT);
      expect(panics(r)[0]).toContain(msg);
      expect(r.calls.filter((c) => !c.startsWith('panic '))).toEqual([]);
    }
  });

  it('stops after panic even when panic returns (no panic=, the debugging shell exited)', async () => {
    const r = await run({ cmdline: `${GRUB} ro`, image: null, env: { STUB_PANIC_RETURNS: '1', panic: '' } });
    expect(r.exitCode).toBe(1);
    expect(panics(r)).toHaveLength(1);
    expect(has(r, 'busybox losetup')).toBe(false);
  });

  it('carries on when modprobe fails (built-in or missing module), logging a warning', async () => {
    const r = await run({ cmdline: `${GRUB} ro`, env: { STUB_MODPROBE_RC: '1' } });
    expect(r.exitCode).toBe(0);
    expect(r.kmsg).toContain('<4>upgrade-agent: warning: modprobe loop failed');
  });
});

describe('initramfs-tools conventions', () => {
  it('runs as a script of its own under busybox ash (initramfs-tools executes it, the cases above source it)', async () => {
    const syntax = await execa('/bin/busybox', ['sh', '-n', SCRIPT], { reject: false });
    expect(syntax.exitCode).toBe(0);
    const t = makeTree({ cmdline: 'root=/dev/vda1 panic=10 ro' });
    const r = await execa('/bin/busybox', ['sh', SCRIPT], { reject: false, extendEnv: false, env: { UA_TEST_ROOT: t, PATH: '/usr/bin:/bin' } });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(t, 'calls.log'), 'utf8')).toBe('');
  });

  it('answers prereqs (hook and boot script), as mkinitramfs asks when ordering them', async () => {
    for (const file of [HOOK, SCRIPT]) {
      const r = await execa(file, ['prereqs'], { reject: false });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe('');
    }
  });
});

describe('shellcheck', () => {
  it('passes shellcheck -s sh on the hook, the boot script and the stubs', async () => {
    const files = [HOOK, SCRIPT, ...['busybox', 'e2fsck', 'modprobe', 'functions'].map((f) => join(STUBS, f))];
    const r = await execa('shellcheck', ['-s', 'sh', ...files], { reject: false });
    expect(r.stdout).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('keeps both scripts executable (initramfs-tools silently skips non-executable hooks and scripts)', () => {
    for (const file of [HOOK, SCRIPT]) {
      expect(lstatSync(file).mode & 0o111).toBe(0o111);
    }
  });
});
