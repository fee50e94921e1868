// The cached Debian root of the e2e appliance: built by guest/build-root.sh, keyed by a hash of what it is made from.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

const GUEST_DIR = 'test/vm/guest';
/** Everything the root tar is built from: a change to any of them builds a new root. */
export const ROOT_INPUTS = [
  `${GUEST_DIR}/build-root.sh`,
  `${GUEST_DIR}/packages.txt`,
];

export function rootCacheKey(projectDir: string): string {
  const h = createHash('sha256');
  for (const f of ROOT_INPUTS) h.update(f).update('\0').update(readFileSync(join(projectDir, f))).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** Path of the root tar, building it first when the cache has none for the current inputs. */
export async function guestRootTar(projectDir: string, cacheDir: string, log: (s: string) => void): Promise<string> {
  const tar = join(cacheDir, `root-${rootCacheKey(projectDir)}.tar`);
  if (statSync(tar, { throwIfNoEntry: false })?.isFile()) {
    log(`guest root: cached ${tar}`);
    return tar;
  }
  mkdirSync(cacheDir, { recursive: true });
  const partial = `${tar}.partial`;
  // Anything else under these names goes, e.g. the directory an earlier harness left (mmdebstrap guessed the format).
  for (const p of [tar, partial]) rmSync(p, { recursive: true, force: true });
  const started = Date.now();
  log(`guest root: building ${tar} (mmdebstrap bookworm)`);
  const r = await execa('bash', [join(projectDir, GUEST_DIR, 'build-root.sh'), partial], { all: true, reject: false });
  if (r.exitCode !== 0) throw new Error(`build-root.sh exited ${r.exitCode}:\n${r.all?.slice(-4000)}`);
  if (!statSync(partial).isFile()) throw new Error(`build-root.sh left no tar file at ${partial}`);
  renameSync(partial, tar);
  log(`guest root: built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return tar;
}
