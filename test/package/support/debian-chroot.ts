// Minimal Debian chroots for the install tests: mmdebstrap minbase tars cached under .cache/chroot, keyed by what makes them.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type Result } from 'execa';

export type Suite = 'bookworm' | 'trixie';

/** mmdebstrap's arguments before the suite: part of the cache key. */
const MMDEBSTRAP_ARGS = ['--variant=minbase', '--format=tar', '--include=ca-certificates'];
const MIRROR = 'http://deb.debian.org/debian';

export async function chrootTar(projectDir: string, suite: Suite, log: (s: string) => void): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify([MMDEBSTRAP_ARGS, suite, MIRROR])).digest('hex').slice(0, 16);
  const dir = join(projectDir, '.cache/chroot');
  const tar = join(dir, `${suite}-${key}.tar`);
  if (statSync(tar, { throwIfNoEntry: false })?.isFile()) return tar;
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  log(`chroot: building ${tar} (mmdebstrap ${suite})`);
  const partial = `${tar}.partial`;
  rmSync(partial, { force: true });
  const r = await execa('mmdebstrap', [...MMDEBSTRAP_ARGS, suite, partial, MIRROR], { all: true, reject: false });
  if (r.exitCode !== 0) throw new Error(`mmdebstrap ${suite} exited ${r.exitCode}:\n${r.all?.slice(-4000)}`);
  renameSync(partial, tar);
  log(`chroot: built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return tar;
}

export interface Chroot {
  dir: string;
  /** Runs `sh -c SCRIPT` inside (apt non-interactive); never throws: check exitCode. */
  sh(script: string): Promise<Result<{ all: true; reject: false }>>;
  /** Copies a host file into the chroot's /tmp; returns its path inside. */
  copyIn(file: string): string;
  close(): Promise<void>;
}

/**
 * A fresh chroot from the cached tar, with /proc and /dev, the host's resolv.conf, and a policy-rc.d that keeps
 * maintainer scripts from starting services (the Debian way to install into an image).
 */
export async function openChroot(tar: string): Promise<Chroot> {
  const dir = mkdtempSync(join('/var/tmp', 'ua-chroot-'));
  await execa('tar', ['-C', dir, '--numeric-owner', '-xpf', tar]);
  writeFileSync(join(dir, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  copyFileSync('/etc/resolv.conf', join(dir, 'etc/resolv.conf'));
  const mounts: string[] = [];
  await execa('mount', ['-t', 'proc', 'proc', join(dir, 'proc')]);
  mounts.push(join(dir, 'proc'));
  await execa('mount', ['--rbind', '/dev', join(dir, 'dev')]);
  await execa('mount', ['--make-rslave', join(dir, 'dev')]);
  mounts.push(join(dir, 'dev'));
  return {
    dir,
    sh: (script) => execa('chroot', [dir, 'sh', '-c', script], {
      all: true, reject: false, env: { DEBIAN_FRONTEND: 'noninteractive', PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C.UTF-8' },
    }),
    copyIn(file) {
      const name = file.split('/').pop()!;
      copyFileSync(file, join(dir, 'tmp', name));
      return `/tmp/${name}`;
    },
    async close() {
      for (const m of mounts.reverse()) await execa('umount', ['-R', '-l', m], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
