// A digest of what an image's root tree holds, independent of block layout: names, types, owners, modes, contents.
import { createHash } from 'node:crypto';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256OfFile } from '../../steps/migrate-fs.js';

/**
 * sha256 over one line per entry in path order: `path type mode uid:gid` and the file's sha256, the symlink's
 * target or the device's number. mtimes are left out (a scrub or a re-run moves directory mtimes without changing
 * what ships); xattrs and ACLs too (rsync -AX carries them; a digest of them would need a native call per file).
 * `skip` are absolute paths left out with what is below them (lost+found).
 */
export async function treeDigest(root: string, skip: string[] = []): Promise<{ sha256: string; entries: number }> {
  const h = createHash('sha256');
  let entries = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(join(root, dir))).sort()) {
      const path = `${dir === '/' ? '' : dir}/${name}`;
      if (skip.includes(path)) continue;
      const at = join(root, path);
      const st = await lstat(at);
      const type = st.isFile() ? 'f' : st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : 's';
      const what = type === 'f' ? await sha256OfFile(at) : type === 'l' ? await readlink(at) : type === 'c' || type === 'b' ? String(st.rdev) : '';
      h.update(`${JSON.stringify(path)} ${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${what}\n`);
      entries++;
      if (type === 'd') await walk(path);
    }
  };
  await walk('/');
  return { sha256: h.digest('hex'), entries };
}
