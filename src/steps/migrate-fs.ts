// Filesystem primitives shared by migration planning and applying: never follow a symlink while resolving a path.
import { constants, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { MigrateError } from '../errors.js';
import { sha256OfFd } from '../util/sha256.js';
import { pathSegments } from './migrate-glob.js';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'special' | 'none';

/** `path` is absolute inside `root` and already validated (no `.`/`..`), so joining cannot climb out. */
export const hostPath = (root: string, path: string): string => join(root, path);

export async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await lstat(p);
  } catch (err) {
    // ENOTDIR: a component is a file, so the path does not exist either.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
}

export function kindOf(st: Stats): EntryKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'special';
}

export function specialName(st: Stats): string {
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  return 'unknown file type';
}

export type ParentState =
  | { state: 'ok' }
  | { state: 'missing'; missing: string[] } // ancestors to create, outermost first
  | { state: 'symlink' | 'notdir'; at: string };

/**
 * lstats every ancestor of `path` below `root`, outermost first. The kernel would follow a symlinked component
 * (an image whose /etc points at /tmp/x would make us write to the host's /tmp/x), so each one must be a real
 * directory. The roots themselves are trusted: we made the mountpoint, the operator chose the source.
 */
export async function checkParents(root: string, path: string): Promise<ParentState> {
  const names = pathSegments(path).slice(0, -1);
  for (let i = 1; i <= names.length; i++) {
    const at = `/${names.slice(0, i).join('/')}`;
    const st = await lstatOrNull(hostPath(root, at));
    if (st === null) return { state: 'missing', missing: names.slice(i - 1).map((_, k) => `/${names.slice(0, i + k).join('/')}`) };
    if (st.isSymbolicLink()) return { state: 'symlink', at };
    if (!st.isDirectory()) return { state: 'notdir', at };
  }
  return { state: 'ok' };
}

/** Throws E_MIGRATE_UNSAFE_PATH unless the ancestors are real directories or (when allowed) missing. */
export function assertSafeParents(ps: ParentState, side: 'source' | 'target', path: string): void {
  if (ps.state === 'symlink' || ps.state === 'notdir') {
    const what = ps.state === 'symlink' ? 'a symlink' : 'not a directory';
    throw new MigrateError('E_MIGRATE_UNSAFE_PATH', `${side} ${ps.at} is ${what}; refusing to resolve ${path} through it`, {
      context: { side, path, at: ps.at, state: ps.state },
    });
  }
}

/** Opens a regular file for reading without following a symlink at its last component. */
export async function openNoFollow(p: string): Promise<FileHandle> {
  return open(p, constants.O_RDONLY | constants.O_NOFOLLOW);
}

export async function sha256OfFile(p: string): Promise<string> {
  const fh = await openNoFollow(p);
  try {
    return (await sha256OfFd(fh.fd)).sha256;
  } finally {
    await fh.close();
  }
}

export const mtimeSec = (st: Stats): number => Math.floor(st.mtimeMs / 1000);
export const permBits = (st: Stats): number => st.mode & 0o7777;
