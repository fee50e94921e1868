// Writing a root tree into a mounted image: the TreeSync seam and its rsync implementation.
import { execa } from 'execa';
import { BuildError } from '../../errors.js';

export interface TreeSync {
  /**
   * Makes `target` (a mounted image's root) equal to `source` (a root tree): deletions, hard links, ACLs, xattrs,
   * devices, ownership by number, modes and mtimes. Only files that differ are rewritten. `keep` are absolute paths
   * of the target that are neither copied over nor deleted (lost+found). Converges when run again after a kill.
   */
  sync(source: string, target: string, opts: { keep: string[] }): Promise<void>;
}

/** rsync's exit codes that mean the destination ran out of room (11: file I/O error, with ENOSPC in its words). */
const isFull = (exitCode: number | undefined, out: string): boolean => exitCode === 11 && /No space left on device/i.test(out);

/**
 * `rsync -aHAX --delete --numeric-ids --checksum`: --checksum because the quick size+mtime test misses a file whose
 * content changed with the same size and mtime (a silently stale image); the extra reads are cheap next to a
 * wrong image. Whole-file copies into a temp name then rename (rsync's default): a changed file gets new blocks,
 * an unchanged one keeps its blocks, so the image's block diff stays close to the changed files.
 */
export class RsyncTreeSync implements TreeSync {
  constructor(private readonly binary = 'rsync') {}

  async sync(source: string, target: string, opts: { keep: string[] }): Promise<void> {
    const args = ['-aHAX', '--delete', '--numeric-ids', '--checksum', ...opts.keep.map((k) => `--exclude=${k}`), '--', `${source.replace(/\/+$/, '')}/`, `${target}/`];
    const r = await execa(this.binary, args, { reject: false, all: true, env: { LC_ALL: 'C' } });
    if (r.exitCode === 0) return;
    const out = String(r.all ?? r.shortMessage).trim().split('\n').slice(-10).join('\n');
    if (isFull(r.exitCode, out)) throw new BuildError('E_BUILD_IMAGE_FULL', `the image has no room for ${source}: ${out}`, { context: { source } });
    throw new BuildError('E_BUILD_SYNC', `rsync ${source} into the image failed (${r.exitCode ?? r.signal}): ${out}`, {
      context: { source, exitCode: r.exitCode, output: out },
    });
  }
}
