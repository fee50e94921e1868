// The real diff builder: `zfs send -i @from @to`, through `xz` when asked, hashed as it lands on disk (tmp + rename).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Zfs } from '../adapters/zfs.js';
import type { Compression } from '../trust/manifest-types.js';
import { commitRename } from '../util/atomic-file.js';
import { UpgradeError } from '../errors.js';
import type { DiffBuilder } from './diff-builds.js';

export function zfsDiffBuilder(zfs: Zfs, dataset: string, compression: Compression): DiffBuilder {
  return {
    async canBuild(from, to) {
      if (from >= to) return false;
      const versions = new Set((await zfs.snapshots(dataset)).map((s) => s.version));
      return versions.has(from) && versions.has(to);
    },
    async build(from, to, outFile, signal) {
      mkdirSync(dirname(outFile), { recursive: true });
      const tmp = `${outFile}.tmp`;
      const send = zfs.send(`${dataset}@${to}`, `${dataset}@${from}`);
      const hash = createHash('sha256');
      let size = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          size += chunk.length;
          cb(null, chunk);
        },
      });
      const out = createWriteStream(tmp, { mode: 0o644 });
      const xz = compression === 'xz' ? spawn('xz', ['-c', '-6', '-T1'], { stdio: ['pipe', 'pipe', 'ignore'] }) : null;
      const kill = (): void => {
        send.kill();
        xz?.kill('SIGKILL');
      };
      signal.addEventListener('abort', kill, { once: true });
      try {
        if (xz) {
          const xzDone = new Promise<void>((resolve, reject) => xz.on('close', (code) => (code === 0 ? resolve() : reject(new UpgradeError('E_DIFF_BUILD', `xz exited ${code}`)))));
          await Promise.all([pipeline(send.stdout, xz.stdin, { signal }), pipeline(xz.stdout, tap, out, { signal }), xzDone, send.done]);
        } else {
          await Promise.all([pipeline(send.stdout, tap, out, { signal }), send.done]);
        }
        const fh = await open(tmp, 'r');
        await fh.sync();
        await fh.close();
        commitRename(tmp, outFile);
        return { size, sha256: hash.digest('hex') };
      } catch (err) {
        kill();
        rmSync(tmp, { force: true });
        throw err instanceof UpgradeError ? err : new UpgradeError('E_DIFF_BUILD', `zfs send ${dataset}@${from}..@${to}: ${(err as Error).message}`, { cause: err });
      } finally {
        signal.removeEventListener('abort', kill);
      }
    },
  };
}
