// Import step: a verified stream goes fd → xz → zfs recv, process to process, into the local pool; idempotent.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Zfs } from '../adapters/zfs.js';
import { UpgradeError, ZfsError } from '../errors.js';
import type { Logger } from '../log.js';
import { recoverFullSwap, settleDataset, stagingName, swapInStaging } from './full-swap.js';
import { openVerified } from './verify.js';

export interface ImportDeps {
  zfs: Zfs;
  log: Logger;
}

export interface ImportOptions {
  streamPath: string;
  size: number;
  sha256: string;
  compression: 'xz' | 'none';
  pool: string;
  dataset: string;
  /** Base of an incremental stream; null for a full stream. */
  fromVersion: number | null;
  toVersion: number;
  busyTimeoutSec: number;
}

export type ImportResult = 'received' | 'already';

interface XzExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  error?: Error;
}

async function hasVersion(zfs: Zfs, ds: string, version: number): Promise<boolean> {
  return (await zfs.snapshots(ds)).some((s) => s.version === version);
}

/** Refuses an incremental stream unless the dataset's newest snapshot is exactly its base. */
async function checkBase(zfs: Zfs, ds: string, fromVersion: number | null): Promise<void> {
  if (fromVersion === null) return;
  const newest = (await zfs.snapshots(ds)).at(-1);
  if (newest?.version === fromVersion) return;
  throw new ZfsError('E_ZFS_BASE_MISMATCH', `${ds}: newest snapshot is ${newest?.version ?? 'none'}, the diff needs ${fromVersion}`, {
    context: { dataset: ds, newest: newest?.version ?? null, fromVersion },
  });
}

/** One receive attempt from `fd` (read from its current offset) into `target` (`dataset@version`). */
async function receiveOnce(deps: ImportDeps, fd: number, compression: 'xz' | 'none', target: string): Promise<void> {
  if (compression === 'none') return deps.zfs.recv(target, fd);
  const xz = spawn('xz', ['-dc'], { stdio: [fd, 'pipe', 'pipe'] });
  const { stdout: xzOut, stderr: xzErr } = xz;
  if (!xzOut || !xzErr) throw new Error('spawn gave xz no stdout/stderr pipe');
  const xzDone = new Promise<XzExit>((resolve) => {
    let stderr = '';
    let error: Error | undefined;
    xzErr.on('data', (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString();
    });
    xz.on('error', (err) => (error = err));
    xz.on('close', (code, signal) => resolve({ code, signal, stderr: stderr.trim(), ...(error ? { error } : {}) }));
  });
  // Same tick as the spawn: zfs recv takes xz's stdout before this process could read a byte of it.
  const recv = deps.zfs.recv(target, xzOut).then(
    () => null,
    (err: unknown) => err,
  );
  const [recvErr, x] = await Promise.all([recv, xzDone]);
  const xzFailed = x.error !== undefined || x.code !== 0;
  // xz dying of EPIPE is a consequence of recv giving up, not a decompression problem.
  const brokenPipe = x.signal === 'SIGPIPE' || /broken pipe/i.test(x.stderr);
  if (xzFailed && !brokenPipe && (recvErr !== null || x.error)) {
    throw new UpgradeError('E_DECOMPRESS', `xz could not decompress the stream: ${x.error?.message ?? x.stderr}`, {
      cause: recvErr ?? x.error,
      context: { xzStderr: x.stderr, xzExit: x.code, xzSignal: x.signal, recvStderr: recvErr instanceof ZfsError ? recvErr.context['stderr'] : undefined },
    });
  }
  if (recvErr !== null) throw recvErr;
  if (xzFailed) {
    // zfs accepted a complete, self-checksummed stream; the export's image sha256 still has the last word.
    deps.log.warn({ xzStderr: x.stderr, xzExit: x.code }, 'xz reported an error after zfs recv accepted the stream');
  }
}

function retryable(err: unknown): boolean {
  if (!(err instanceof ZfsError)) return false;
  if (err.code === 'E_ZFS_BUSY') return true;
  // An atime update on a mounted head; the next attempt rolls back first.
  return err.code === 'E_ZFS_RECV' && /has been modified/i.test(String(err.context['stderr']));
}

/**
 * Receives the signed stream at `streamPath` so that `<pool>/<dataset>@<toVersion>` exists afterwards.
 * Checks what is already true first, never uses -F or -R, and retries (bounded) while the dataset is busy, e.g.
 * because an orphaned feeder from a killed run is still receiving: that receive may even finish this version.
 */
export async function importStream(deps: ImportDeps, opts: ImportOptions): Promise<ImportResult> {
  const { zfs, log } = deps;
  const ds = `${opts.pool}/${opts.dataset}`;
  const ctx = { dataset: ds, fromVersion: opts.fromVersion, toVersion: opts.toVersion };

  const alreadyThere = async (): Promise<boolean> => {
    await recoverFullSwap(deps, ds);
    if (!(await hasVersion(zfs, ds, opts.toVersion))) return false;
    await settleDataset(zfs, ds);
    log.info(ctx, 'import: snapshot already present');
    return true;
  };

  if (await alreadyThere()) return 'already';
  await checkBase(zfs, ds, opts.fromVersion);
  const verified = await openVerified(opts.streamPath, { size: opts.size, sha256: opts.sha256 });
  try {
    const deadline = Date.now() + opts.busyTimeoutSec * 1000;
    let delay = 200;
    let staging = false;
    for (let attempt = 1; ; attempt++) {
      // A full stream cannot go into an existing dataset without -F: stage it next to it and swap.
      const staged = opts.fromVersion === null && (await zfs.exists(ds));
      const into = staged ? stagingName(ds) : ds;
      if (staged && (await zfs.exists(into))) await zfs.destroy(into, { recursive: true });
      if (opts.fromVersion !== null) {
        // The head is never meaningful; undo anything (atime) that changed it since the base snapshot.
        await zfs.rollback(`${ds}@${opts.fromVersion}`);
      }
      // Attempt 1 uses the verified fd itself; later ones need offset 0 again, so they reopen that same open file
      // through /proc (same inode, never the path, which may have been replaced since).
      const fd = attempt === 1 ? verified.fd : openSync(`/proc/self/fd/${verified.fd}`, 'r');
      try {
        log.info({ ...ctx, into, attempt, compression: opts.compression }, 'import: zfs recv');
        await receiveOnce(deps, fd, opts.compression, `${into}@${opts.toVersion}`);
        staging = staged;
        break;
      } catch (err) {
        if (!retryable(err)) {
          // Someone else (an orphaned feeder from a killed run) may have received this very version meanwhile.
          if (err instanceof ZfsError && err.code === 'E_ZFS_RECV' && (await alreadyThere())) return 'already';
          throw err;
        }
        if (Date.now() + delay > deadline) {
          throw new ZfsError('E_ZFS_BUSY', `${ds} stayed busy for ${opts.busyTimeoutSec}s; not received`, { cause: err, context: { ...ctx, attempt } });
        }
        log.warn({ ...ctx, attempt, err: (err as Error).message }, 'import: dataset busy, retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
        if (await alreadyThere()) return 'already';
        await checkBase(zfs, ds, opts.fromVersion);
      } finally {
        if (fd !== verified.fd) closeSync(fd);
      }
    }
    // Outside the retry loop: a failed swap must not re-receive; the next run's recovery finishes it.
    if (staging) await swapInStaging(deps, ds);
  } finally {
    await verified.close();
  }

  await settleDataset(zfs, ds);
  if (!(await hasVersion(zfs, ds, opts.toVersion))) {
    throw new ZfsError('E_ZFS_RECV', `zfs recv reported success but ${ds}@${opts.toVersion} is missing`, { context: ctx });
  }
  log.info(ctx, 'import: received');
  return 'received';
}
