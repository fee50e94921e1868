// Import step: a signed stream goes into the local pool, checked whole or chunk by chunk on its way to xz/zfs recv; idempotent.
import { closeSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Decompressor } from '../adapters/decompress.js';
import type { DatasetEntry, DatasetView, Zfs } from '../adapters/zfs.js';
import { ZfsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ChunkList } from '../trust/manifest-types.js';
import { feedChunks } from './chunk-feed.js';
import { isSettled, recoverFullSwap, SETTLED_PROPS, settleDataset, stagingName, swapInStaging, swapInterrupted } from './full-swap.js';
import { receiveOnce, type StreamSource } from './import-recv.js';
import { openSized, openVerified } from './verify.js';

export interface ImportDeps {
  zfs: Zfs;
  log: Logger;
  decompressor: Decompressor;
}

export interface ImportOptions {
  streamPath: string;
  size: number;
  sha256: string;
  /** Signed per-chunk hashes: each chunk is checked as it is fed; without them the whole file is checked first. */
  chunks?: ChunkList | undefined;
  compression: 'xz' | 'none';
  pool: string;
  dataset: string;
  /** Base of an incremental stream; null for a full stream. */
  fromVersion: number | null;
  toVersion: number;
  busyTimeoutSec: number;
}

export type ImportResult = 'received' | 'already';

const hasVersion = (view: DatasetView, ds: string, version: number): boolean => view.snapshots(ds).some((s) => s.version === version);

/** Refuses an incremental stream unless the dataset's newest snapshot is exactly its base. */
function checkBase(view: DatasetView, ds: string, fromVersion: number | null): void {
  if (fromVersion === null) return;
  const newest = view.snapshots(ds).at(-1);
  if (newest?.version === fromVersion) return;
  throw new ZfsError('E_ZFS_BASE_MISMATCH', `${ds}: newest snapshot is ${newest?.version ?? 'none'}, the diff needs ${fromVersion}`, {
    context: { dataset: ds, newest: newest?.version ?? null, fromVersion },
  });
}

/** One listing of the dataset's neighbourhood; an interrupted full swap is finished (or undone) first. */
async function look(deps: ImportDeps, ds: string): Promise<DatasetView> {
  const view = await deps.zfs.view(ds);
  if (!swapInterrupted(view, ds)) return view;
  await recoverFullSwap(deps, ds, view);
  return deps.zfs.view(ds);
}

/** An incremental stream onto a head listed as settled: the receive changes neither its properties nor its mount state. */
const settledIncremental = (opts: ImportOptions, head: DatasetEntry | undefined): boolean =>
  opts.fromVersion !== null && head !== undefined && isSettled(head);

const isBusy = (err: unknown): boolean => err instanceof ZfsError && err.code === 'E_ZFS_BUSY';
/** The head changed since the base snapshot (an atime update on a mounted head): a rollback makes it receivable. */
const headModified = (err: unknown): boolean => err instanceof ZfsError && err.code === 'E_ZFS_RECV' && /has been modified/i.test(String(err.context['stderr']));

/**
 * Receives the signed stream at `streamPath` so that `<pool>/<dataset>@<toVersion>` exists afterwards.
 * Checks what is already true first (one listing), never uses -F or -R, rolls the head back only when the receive
 * says it changed, and retries (bounded) while the dataset is busy, e.g. because an orphaned feeder from a killed
 * run is still receiving: that receive may even finish this version.
 */
export async function importStream(deps: ImportDeps, opts: ImportOptions): Promise<ImportResult> {
  const { zfs, log } = deps;
  const ds = `${opts.pool}/${opts.dataset}`;
  const ctx = { dataset: ds, fromVersion: opts.fromVersion, toVersion: opts.toVersion };

  const already = async (view: DatasetView): Promise<ImportResult> => {
    await settleDataset(zfs, ds, view.get(ds));
    log.info(ctx, 'import: snapshot already present');
    return 'already';
  };

  let view = await look(deps, ds);
  if (hasVersion(view, ds, opts.toVersion)) return already(view);
  let head = view.get(ds);
  checkBase(view, ds, opts.fromVersion);
  // The receive's -u/-o matter only where the result is listed and settled afterwards (a full stream, a head not
  // settled): only then is the implementation probed for them, one process fewer on the usual path.
  if (!settledIncremental(opts, head)) await zfs.capabilities();
  const { chunks } = opts;
  // With chunk hashes nothing is read ahead: each chunk is checked on its way. Without them the whole file is
  // hashed first, through the same descriptor that is then fed to xz.
  const file = chunks ? await openSized(opts.streamPath, opts.size) : await openVerified(opts.streamPath, opts);
  let staging = false;
  let rolledBack = false;
  try {
    const deadline = Date.now() + opts.busyTimeoutSec * 1000;
    let delay = 200;
    let rollback = false;
    for (let attempt = 1; ; attempt++) {
      // A full stream cannot go into an existing dataset without -F: stage it next to it and swap.
      const staged = opts.fromVersion === null && view.exists(ds);
      const into = staged ? stagingName(ds) : ds;
      if (rollback && opts.fromVersion !== null) await zfs.rollback(`${ds}@${opts.fromVersion}`);
      // Attempt 1 of an fd source uses the verified fd itself; later ones need offset 0 again, so they reopen that
      // same open file through /proc (same inode, never the path, which may have been replaced since). A feed
      // reads positionally from the one fd.
      const fd = chunks || attempt === 1 ? file.fd : openSync(`/proc/self/fd/${file.fd}`, 'r');
      const source: StreamSource = chunks ? { feed: (w) => feedChunks(file.fd, opts.streamPath, opts.size, chunks, w) } : { fd };
      try {
        log.info({ ...ctx, into, attempt, compression: opts.compression, chunks: chunks?.sha256.length ?? null }, 'import: zfs recv');
        await receiveOnce(deps, source, opts.compression, `${into}@${opts.toVersion}`, { noMount: true, props: SETTLED_PROPS });
        staging = staged;
        break;
      } catch (err) {
        if (headModified(err) && !rollback) {
          rollback = rolledBack = true;
          continue;
        }
        if (!isBusy(err)) {
          // Someone else (an orphaned feeder from a killed run) may have received this very version meanwhile.
          if (err instanceof ZfsError && err.code === 'E_ZFS_RECV' && hasVersion((view = await look(deps, ds)), ds, opts.toVersion)) return await already(view);
          throw err;
        }
        if (Date.now() + delay > deadline) {
          throw new ZfsError('E_ZFS_BUSY', `${ds} stayed busy for ${opts.busyTimeoutSec}s; not received`, { cause: err, context: { ...ctx, attempt } });
        }
        log.warn({ ...ctx, attempt, err: (err as Error).message }, 'import: dataset busy, retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
        view = await look(deps, ds);
        head = undefined; // someone else was at work on it: ask again after the receive
        if (hasVersion(view, ds, opts.toVersion)) return await already(view);
        checkBase(view, ds, opts.fromVersion);
      } finally {
        if (fd !== file.fd) closeSync(fd);
      }
    }
  } finally {
    await file.close();
  }

  // An incremental receive (no -o, no -R) into a head that was settled and not rolled back changes neither its
  // properties nor its mount state, and zfs recv exits 0 only with the snapshot made: nothing left to ask.
  if (!rolledBack && settledIncremental(opts, head)) {
    log.info(ctx, 'import: received');
    return 'received';
  }
  if (staging) {
    // Outside the retry loop: a failed swap must not re-receive; the next run's recovery finishes it. The swap
    // settles the staging dataset (listed after its receive) before renaming it into place, and a rename keeps its
    // properties and leaves it unmounted: nothing left to ask here either.
    await swapInStaging(deps, ds, await zfs.view(ds));
    log.info(ctx, 'import: received');
    return 'received';
  }
  view = await zfs.view(ds);
  if (!hasVersion(view, ds, opts.toVersion)) {
    throw new ZfsError('E_ZFS_RECV', `zfs recv reported success but ${ds}@${opts.toVersion} is missing`, { context: ctx });
  }
  await settleDataset(zfs, ds, view.get(ds));
  log.info(ctx, 'import: received');
  return 'received';
}
