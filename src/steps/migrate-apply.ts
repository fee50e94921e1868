// Applies a migration plan: copies create/update entries into the target with owner, mode and mtime preserved.
import { constants, type Stats } from 'node:fs';
import { chmod, lchown, lutimes, mkdir, open, readlink, rename, rm, symlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MigrateError } from '../errors.js';
import { fsyncDir } from '../util/atomic-file.js';
import { assertSafeParents, checkParents, hostPath, kindOf, lstatOrNull, openNoFollow, permBits } from './migrate-fs.js';
import { PARENT_REASON, type MigrationPlan } from './migrate-plan.js';

export interface ApplyResult {
  files: number;
  symlinks: number;
  dirs: number;
}

const CHUNK = 1 << 20;
const ZERO = Buffer.alloc(CHUNK);
const WRITE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Temporary sibling in the same directory, so the final rename is atomic; a crash leaves at most this name. */
const tmpFor = (p: string): string => join(dirname(p), `.${basename(p)}.ua-migrate`);

async function writeAll(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  let off = 0;
  while (off < buf.length) off += (await fh.write(buf, off, buf.length - off, pos + off)).bytesWritten;
}

/** tmp → fsync → rename. Owner before mode: chown clears setuid/setgid bits. Zero chunks stay holes. */
async function copyFile(src: string, dst: string): Promise<void> {
  const input = await openNoFollow(src);
  try {
    const st = await input.stat();
    if (!st.isFile()) throw new Error(`${src} is no longer a regular file`);
    const tmp = tmpFor(dst);
    await rm(tmp, { force: true }); // left by a crash; rm does not follow a symlink at the name
    const out = await open(tmp, WRITE_NEW, 0o600);
    try {
      const buf = Buffer.allocUnsafe(CHUNK);
      let pos = 0;
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, CHUNK, pos);
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        if (!chunk.equals(ZERO.subarray(0, bytesRead))) await writeAll(out, chunk, pos);
        pos += bytesRead;
      }
      await out.truncate(pos);
      await out.chown(st.uid, st.gid);
      await out.chmod(permBits(st));
      await out.utimes(st.atime, st.mtime);
      await out.sync();
    } catch (err) {
      await out.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await out.close();
    await rename(tmp, dst);
  } finally {
    await input.close();
  }
}

/** A symlink is recreated as a symlink (never followed): lchown/lutimes act on the link itself. */
async function copySymlink(src: string, dst: string, st: Stats): Promise<void> {
  const tmp = tmpFor(dst);
  await rm(tmp, { force: true });
  await symlink(await readlink(src), tmp);
  await lchown(tmp, st.uid, st.gid);
  await lutimes(tmp, st.atime, st.mtime);
  await rename(tmp, dst);
}

function copyError(err: unknown, path: string): MigrateError {
  if (err instanceof MigrateError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const full = code === 'ENOSPC' || code === 'EDQUOT';
  return new MigrateError(full ? 'E_MIGRATE_IMAGE_FULL' : 'E_MIGRATE_COPY', `migrating ${path}: ${(err as Error).message}`, {
    cause: err, context: { path, errno: code },
  });
}

/**
 * Copies every create/update entry from `sourceRoot` to `targetRoot` (normally the mounted image); 'unchanged',
 * 'skip' and 'absent-in-source' are left alone, and nothing in the target is ever deleted. Before each write the
 * target ancestors are checked again with lstat, so a symlink in the image cannot redirect a write outside it.
 * Directory owner/mode/mtime are set last, deepest first: writing children changes a directory's mtime, and a
 * restrictive mode set early would get in the way. Idempotent: planning again afterwards finds nothing to do.
 * Not carried: hard-link sharing (each link becomes its own file), xattrs/ACLs/file capabilities.
 */
export async function applyMigration(plan: MigrationPlan, sourceRoot: string, targetRoot: string): Promise<ApplyResult> {
  const result: ApplyResult = { files: 0, symlinks: 0, dirs: 0 };
  const planned = new Map(plan.entries.map((e) => [e.path, e]));
  const dirMeta = new Set<string>(); // directories whose metadata is (re)set at the end
  const syncDirs = new Set<string>();
  const touched = (path: string): void => {
    const parent = dirname(path);
    syncDirs.add(hostPath(targetRoot, parent));
    // A planned directory (even 'unchanged') must keep the source's mtime although we just wrote into it.
    const pe = planned.get(parent);
    if (pe !== undefined && pe.kind === 'dir' && pe.action !== 'skip') dirMeta.add(parent);
  };

  for (const e of plan.entries) {
    if (e.action !== 'create' && e.action !== 'update') continue;
    const src = hostPath(sourceRoot, e.path);
    const dst = hostPath(targetRoot, e.path);
    try {
      const ps = await checkParents(targetRoot, e.path);
      assertSafeParents(ps, 'target', e.path);
      if (ps.state === 'missing') {
        // The plan lists missing parents first; a stale plan may not, and then they are made here alike.
        for (const p of ps.missing) {
          await mkdir(hostPath(targetRoot, p), { mode: 0o700 });
          dirMeta.add(p);
          touched(p);
          result.dirs++;
        }
      }
      const st = await lstatOrNull(src);
      const kind = st === null ? 'none' : kindOf(st);
      if (st === null || kind !== e.kind) throw new Error(`source changed since planning (now ${kind}, planned ${e.kind})`);
      if (kind === 'dir') {
        const cur = await lstatOrNull(dst);
        if (cur === null) {
          await mkdir(dst, { mode: 0o700 }); // real mode at the end: until then only we may write into it
          result.dirs++;
          touched(e.path);
        } else if (!cur.isDirectory()) {
          assertSafeParents({ state: cur.isSymbolicLink() ? 'symlink' : 'notdir', at: e.path }, 'target', e.path);
        }
        dirMeta.add(e.path);
      } else if (kind === 'file') {
        await copyFile(src, dst);
        result.files++;
        touched(e.path);
      } else if (kind === 'symlink') {
        await copySymlink(src, dst, st);
        result.symlinks++;
        touched(e.path);
      }
    } catch (err) {
      throw copyError(err, e.path);
    }
  }

  const dirs = [...dirMeta].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1));
  for (const d of dirs) {
    try {
      // A created parent copies its source counterpart; PARENT_REASON entries are not compared later.
      const st = await lstatOrNull(hostPath(sourceRoot, d));
      if (st === null || !st.isDirectory()) {
        if (planned.get(d)?.reasons[0] === PARENT_REASON || !planned.has(d)) continue;
        throw new Error('source directory vanished');
      }
      const dst = hostPath(targetRoot, d);
      // chmod follows a symlink at the last component: only ever on what lstat calls a real directory.
      if ((await lstatOrNull(dst))?.isDirectory() !== true) throw new Error('target is no longer a directory');
      await lchown(dst, st.uid, st.gid);
      await chmod(dst, permBits(st));
      await lutimes(dst, st.atime, st.mtime);
      syncDirs.add(dst);
    } catch (err) {
      throw copyError(err, d);
    }
  }
  // The renames are durable only once their directories are: fsync each touched directory once.
  for (const d of syncDirs) fsyncDir(d);
  return result;
}
