// One `zfs send` stream to a file (tmp → fsync → rename), through `xz` when asked, hashing what lands on disk.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Zfs } from '../adapters/zfs.js';
import type { Compression } from '../trust/manifest-types.js';
import { commitRename } from '../util/atomic-file.js';
import { UpgradeError, type ErrorCode } from '../errors.js';

export interface SendStreamOptions {
  /** Ends the send (and xz) at once; the partial file is removed. */
  signal?: AbortSignal;
  /** The code of an xz failure: publish's own, or the fleet server's diff build. */
  xzErrorCode?: ErrorCode;
}

/** Writes `zfs send [-i from] snap` to `path`; size and sha256 of the bytes written (the compressed ones for xz). */
export async function writeSendStream(
  zfs: Zfs, snap: string, from: string | undefined, path: string, c: Compression, o: SendStreamOptions = {},
): Promise<{ size: number; sha256: string }> {
  const tmp = `${path}.tmp`;
  const send = zfs.send(snap, from);
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
  // -T1 keeps output identical across machines (an on-demand diff rebuilt after eviction must hash the same).
  const xz = c === 'xz' ? spawn('xz', ['-c', '-6', '-T1'], { stdio: ['pipe', 'pipe', 'inherit'] }) : null;
  const kill = (): void => {
    send.kill();
    xz?.kill('SIGKILL');
  };
  o.signal?.addEventListener('abort', kill, { once: true });
  const signal = o.signal ? { signal: o.signal } : {};
  try {
    if (xz) {
      const code = o.xzErrorCode ?? 'E_DECOMPRESS';
      const xzDone = new Promise<void>((resolve, reject) => xz.on('close', (rc) => (rc === 0 ? resolve() : reject(new UpgradeError(code, `xz exited ${rc}`)))));
      await Promise.all([pipeline(send.stdout, xz.stdin, signal), pipeline(xz.stdout, tap, out, signal), xzDone, send.done]);
    } else {
      await Promise.all([pipeline(send.stdout, tap, out, signal), send.done]);
    }
    const fh = await open(tmp, 'r');
    await fh.sync();
    await fh.close();
    commitRename(tmp, path);
  } catch (err) {
    kill();
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', kill);
  }
  return { size, sha256: hash.digest('hex') };
}
