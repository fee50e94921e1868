// Pre-flight inside the image before arming a trial: its kernel and initrd, where Grub's entry will look for them.
import { statSync, lstatSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import { UpgradeError } from '../errors.js';

/**
 * Resolves `path` inside a mounted image root without ever leaving it: absolute symlinks are taken relative
 * to the image root (as Grub and the booted system see them), `..` cannot climb above it.
 */
export function resolveInRoot(root: string, path: string, depth = 0): string | null {
  if (depth > 16) return null;
  const parts = posix.normalize(path).split('/').filter(Boolean);
  let cur = '/';
  for (let i = 0; i < parts.length; i++) {
    const next = posix.join(cur, parts[i] as string);
    let st;
    try {
      st = lstatSync(join(root, next));
    } catch {
      return null;
    }
    if (st.isSymbolicLink()) {
      const target = readlinkSync(join(root, next));
      const rest = parts.slice(i + 1).join('/');
      const base = target.startsWith('/') ? target : posix.join(posix.dirname(next), target);
      return resolveInRoot(root, posix.join(base, rest), depth + 1);
    }
    cur = next;
  }
  return join(root, cur);
}

/** Kernel and initrd inside the mounted image, where the Grub entry will look for them. */
export function checkBootFiles(imageRoot: string, files = ['/vmlinuz', '/initrd.img']): void {
  for (const f of files) {
    const p = resolveInRoot(imageRoot, f);
    const st = p ? statSync(p) : null;
    if (!st?.isFile() || st.size === 0) {
      throw new UpgradeError('E_PREFLIGHT', `the image has no usable ${f}`, { context: { file: f } });
    }
  }
}
