// The OpenZFS appliance root: zfs modules compiled once per (kernel ABI, zfs version) and cached apart from the root tar.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT_INPUTS } from './guest-root.js';

const ZFS_DIR = 'test/vm/guest/openzfs';
const MIRROR = process.env['UA_DEBIAN_MIRROR'] ?? 'http://deb.debian.org/debian';
/** What the module build is made from besides the two versions. */
const MODULE_INPUTS = [`${ZFS_DIR}/build-modules.sh`];
/** What the root is made from besides the modules: the zfs-fuse root's package list, and the OpenZFS additions. */
export const OPENZFS_ROOT_INPUTS = [ROOT_INPUTS[1] as string, `${ZFS_DIR}/build-root.sh`, `${ZFS_DIR}/packages.txt`];

export interface ZfsVersions {
  /** Kernel ABI of bookworm's linux-image-amd64, e.g. 6.1.0-50-amd64. */
  kver: string;
  /** Debian version of zfs-dkms/zfsutils-linux, e.g. 2.1.11-1+deb12u1. */
  zfsVersion: string;
}

export interface OpenZfsRoot extends ZfsVersions {
  tar: string;
  modulesTar: string;
}

function hashOf(projectDir: string, files: string[], extra: string[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(f).update('\0').update(readFileSync(join(projectDir, f))).update('\0');
  for (const e of extra) h.update(e).update('\0');
  return h.digest('hex').slice(0, 16);
}

/**
 * Which kernel ABI and zfs version the mirror serves now, from a private apt state (bookworm main contrib) under
 * `cacheDir`: the host's own apt sources are neither read nor changed. A few seconds (the Packages indices).
 */
export async function resolveZfsVersions(cacheDir: string): Promise<ZfsVersions> {
  const d = join(cacheDir, 'apt-openzfs');
  mkdirSync(join(d, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(d, 'cache', 'archives', 'partial'), { recursive: true });
  const sources = join(d, 'sources.list');
  const line = `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${MIRROR} bookworm main contrib\n`;
  writeFileSync(sources, line);
  const opts = ['-o', `Dir::Etc::SourceList=${sources}`, '-o', 'Dir::Etc::SourceParts=/nonexistent',
    '-o', `Dir::State::Lists=${join(d, 'lists')}`, '-o', `Dir::Cache=${join(d, 'cache')}`];
  const up = await execa('apt-get', ['-qq', ...opts, 'update'], { reject: false, all: true });
  if (up.exitCode !== 0) throw new Error(`apt-get update (bookworm main contrib) failed:\n${up.all}`);
  const show = async (pkg: string): Promise<string> => {
    const r = await execa('apt-cache', [...opts, 'show', '--no-all-versions', pkg], { reject: false, all: true });
    if (r.exitCode !== 0) throw new Error(`apt-cache show ${pkg} failed:\n${r.all}`);
    return r.stdout;
  };
  const kver = /^Depends:.*\blinux-headers-(\S+?)\s/m.exec(await show('linux-headers-amd64'))?.[1];
  const zfsVersion = /^Version: (\S+)/m.exec(await show('zfs-dkms'))?.[1];
  if (!kver || !zfsVersion) throw new Error('could not read the kernel ABI or the zfs-dkms version from the mirror');
  return { kver, zfsVersion };
}

/** Runs `script args…` writing `out` through `out.partial`, unless `out` is there already. */
async function cached(out: string, what: string, script: string, args: string[], log: (s: string) => void): Promise<void> {
  if (statSync(out, { throwIfNoEntry: false })?.isFile()) {
    log(`${what}: cached ${out}`);
    return;
  }
  const partial = `${out}.partial`;
  rmSync(partial, { recursive: true, force: true });
  const started = Date.now();
  log(`${what}: building ${out}`);
  const r = await execa('bash', [script, partial, ...args], { all: true, reject: false });
  if (r.exitCode !== 0) throw new Error(`${script} exited ${r.exitCode}:\n${r.all?.slice(-4000)}`);
  if (!statSync(partial).isFile()) throw new Error(`${script} left no tar file at ${partial}`);
  renameSync(partial, out);
  log(`${what}: built in ${((Date.now() - started) / 1000).toFixed(0)} s (${(statSync(out).size / 2 ** 20).toFixed(1)} MiB)`);
}

/** The zfs modules for `v`, compiled by dkms in a throwaway chroot only when the cache has none for these inputs. */
export async function zfsModulesTar(projectDir: string, cacheDir: string, v: ZfsVersions, log: (s: string) => void): Promise<string> {
  mkdirSync(cacheDir, { recursive: true });
  const tar = join(cacheDir, `zfs-modules-${v.kver}-${hashOf(projectDir, MODULE_INPUTS, [v.kver, v.zfsVersion])}.tar`);
  await cached(tar, 'zfs modules', join(projectDir, ZFS_DIR, 'build-modules.sh'), [v.kver, v.zfsVersion], log);
  return tar;
}

/**
 * The OpenZFS appliance root tar (the same contract as guestRootTar: a tar of a bootable bookworm root), keyed by
 * its own inputs and the modules' key, so a package-list change rebuilds the root (minutes) but not the modules.
 */
export async function openZfsRootTar(projectDir: string, cacheDir: string, log: (s: string) => void): Promise<OpenZfsRoot> {
  const v = await resolveZfsVersions(cacheDir);
  const modulesTar = await zfsModulesTar(projectDir, cacheDir, v, log);
  const key = hashOf(projectDir, OPENZFS_ROOT_INPUTS, [v.kver, v.zfsVersion, modulesTar]);
  const tar = join(cacheDir, `root-openzfs-${key}.tar`);
  await cached(tar, 'guest root (OpenZFS)', join(projectDir, ZFS_DIR, 'build-root.sh'), [modulesTar, v.kver, v.zfsVersion], log);
  return { tar, modulesTar, ...v };
}
