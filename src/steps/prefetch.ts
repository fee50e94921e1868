// Prefetch: download one signed stream to a partial file — mirrors in order, Range resume, size cap, sha256, drip guard.
import { createHash } from 'node:crypto';
import type { DispatchResponse, Dispatcher } from '../adapters/http-dispatcher.js';
import { isTimeoutError, mapHttpError, requestFollowing } from '../adapters/http.js';
import { DELETE_PARTIAL_CODES, DownloadError, MIRROR_FAILURE_CODES, UpgradeError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { deletePartial, PartialFile } from './prefetch-file.js';
import { startWatchdog, ThroughputWindow } from '../adapters/http-guard.js';
import { interpret, StaleResume, tooLarge, truncated } from './prefetch-range.js';
import { TokenBucket } from './rate-limit.js';

export interface DownloadProgress {
  url: string;
  /** What to send as If-Range next time (strong ETag, else Last-Modified); null: this response cannot be resumed. */
  validator: string | null;
  /** Bytes on disk and fsynced. */
  bytes: number;
}

export interface DownloadLimits {
  minBytesPerSec: number;
  slowWindowSec: number;
  deadlineSec: number;
  headersTimeoutSec: number;
  /** Redirects followed per request, by the rules of requestFollowing (same scheme only). */
  maxRedirects: number;
  /** Bandwidth cap (download.maxBytesPerSec); 0 or absent: none. One bucket per call, shared by its mirrors and retries. */
  maxBytesPerSec?: number;
}

export interface DownloadOptions {
  /** Mirrors, tried in order (the saved mirror first, so a resume is not thrown away). */
  urls: string[];
  /** Relative URLs resolve against this (the manifest's URL). */
  baseUrl?: string;
  /** Signed size and sha256 (lowercase hex). */
  size: number;
  sha256: string;
  partialPath: string;
  /** What onProgress last reported, persisted by the caller across runs and reboots. */
  saved: { url?: string; validator?: string } | null;
  onProgress(state: DownloadProgress): void;
  /** Every chunk written (bytes on disk so far, not yet fsynced): for a progress display, never persisted. */
  onBytes?: (bytes: number, size: number) => void;
  dispatcher: Dispatcher;
  limits: DownloadLimits;
  /** fsync + onProgress at most this often (config download.chunkFsyncBytes). Default 8 MiB. */
  checkpointBytes?: number;
  now?: () => number;
  signal?: AbortSignal;
  log: Logger;
}

export interface DownloadResult {
  bytes: number;
  sha256: string;
  url: string;
}

/** Errors that blame one mirror (ERROR_CODES' `mirrorFailure`): the next one may do better. Everything else ends the download at once. */
const MIRROR_FAILURES = MIRROR_FAILURE_CODES;
/** Bytes that must never be trusted again (ERROR_CODES' `deletePartial`): the partial file goes. */
const DELETE_PARTIAL_ON = DELETE_PARTIAL_CODES;

interface Ctx extends DownloadOptions {
  now: () => number;
  deadlineAt: number;
  checkpointBytes: number;
  bucket: TokenBucket;
}

/**
 * Downloads the stream to opts.partialPath and returns once all `size` bytes are on disk, fsynced, and hash to
 * `sha256`. Throws RetryLaterError (202, or 429/503 + Retry-After), E_DOWNLOAD_DEADLINE, E_NO_SPACE, or the
 * caller's abort reason at once. Mirror failures move on to the next mirror; when all fail: the single mirror's own
 * error if there was one mirror, else E_MIRRORS_EXHAUSTED with context.errors and the last error as cause.
 */
export async function downloadStream(opts: DownloadOptions): Promise<DownloadResult> {
  const now = opts.now ?? Date.now;
  const ctx: Ctx = {
    ...opts, now, deadlineAt: now() + opts.limits.deadlineSec * 1000, checkpointBytes: opts.checkpointBytes ?? 8 << 20,
    bucket: new TokenBucket({ bytesPerSec: opts.limits.maxBytesPerSec ?? 0, now }),
  };
  const urls = opts.urls.map((u) => new URL(u, opts.baseUrl).toString());
  if (opts.saved?.url && urls.includes(opts.saved.url)) urls.sort((a, b) => Number(b === opts.saved?.url) - Number(a === opts.saved?.url));
  const errors: { url: string; code: ErrorCode; message: string }[] = [];
  let last: UpgradeError | undefined;
  for (const url of urls) {
    if (now() >= ctx.deadlineAt) throw new DownloadError('E_DOWNLOAD_DEADLINE', 'download deadline passed', { cause: last, context: { errors } });
    const validator = opts.saved?.url === url && opts.saved.validator ? opts.saved.validator : null;
    try {
      return await fromMirror(ctx, url, validator);
    } catch (err) {
      if (opts.signal?.aborted || !(err instanceof UpgradeError) || !MIRROR_FAILURES.has(err.code)) throw err;
      opts.log.warn({ url, code: err.code, err: err.message }, 'mirror failed');
      errors.push({ url, code: err.code, message: err.message });
      last = err;
    }
  }
  if (urls.length === 1 && last) throw last;
  throw new DownloadError('E_MIRRORS_EXHAUSTED', `all ${urls.length} mirrors failed: ${errors.map((e) => e.code).join(', ')}`, {
    cause: last,
    context: { errors },
  });
}

async function fromMirror(ctx: Ctx, url: string, validator: string | null): Promise<DownloadResult> {
  try {
    return await attempt(ctx, url, validator);
  } catch (err) {
    if (!(err instanceof StaleResume)) throw err;
    // After a power cut the prefix on disk may hold garbage past the last fsync: one clean try from zero.
    ctx.log.warn({ url, reason: err.message }, 'resumed download unusable; restarting from byte 0');
    return attempt(ctx, url, null);
  }
}

async function attempt(ctx: Ctx, url: string, validator: string | null): Promise<DownloadResult> {
  const file = await PartialFile.open(ctx.partialPath);
  let drop = false;
  try {
    return await transfer(ctx, file, url, validator);
  } catch (err) {
    drop = err instanceof UpgradeError && DELETE_PARTIAL_ON.has(err.code);
    throw err;
  } finally {
    await file.close();
    if (drop) await deletePartial(ctx.partialPath);
  }
}

async function transfer(ctx: Ctx, file: PartialFile, url: string, validator: string | null): Promise<DownloadResult> {
  const { size } = ctx;
  let hash = createHash('sha256');
  let start = file.initialSize;
  if (start === size) {
    // Complete on disk (crash after the last fsync, before the caller recorded it): the signed hash decides.
    await file.rehash(size, hash);
    const digest = hash.digest('hex');
    if (digest === ctx.sha256) return { bytes: size, sha256: digest, url };
    hash = createHash('sha256');
    start = 0;
  } else if (start > 0 && start < size && validator) {
    await file.rehash(start, hash);
  } else {
    start = 0; // another server's bytes, no validator, or more bytes than signed: nothing safe to resume
  }

  const ac = new AbortController();
  const onAbort = (): void => ac.abort(ctx.signal?.reason);
  if (ctx.signal?.aborted) throw ctx.signal.reason;
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  const { minBytesPerSec, slowWindowSec } = ctx.limits;
  const window = new ThroughputWindow(minBytesPerSec, slowWindowSec * 1000, ctx.now);
  const dog = startWatchdog({
    url, deadlineAt: ctx.deadlineAt, window, minBytesPerSec, windowSec: slowWindowSec, now: ctx.now,
    tickMs: Math.max(50, Math.min(1000, (slowWindowSec * 1000) / 4)),
    trip: (err) => ac.abort(err),
  });
  // Whatever failed, an abort reason (watchdog or caller) is the real story.
  const explain = (err: unknown, fallback: (e: unknown) => UpgradeError): unknown =>
    ac.signal.aborted ? ac.signal.reason : err instanceof UpgradeError || err instanceof StaleResume ? err : fallback(err);
  try {
    let res: DispatchResponse;
    try {
      ({ res } = await requestFollowing(url, {
        dispatcher: ctx.dispatcher,
        method: 'GET',
        headers: start > 0 ? { range: `bytes=${start}-`, 'if-range': validator as string } : {},
        body: null,
        signal: ac.signal,
        headersTimeout: ctx.limits.headersTimeoutSec * 1000,
        maxRedirects: ctx.limits.maxRedirects,
      }));
    } catch (err) {
      throw explain(err, (e) => mapHttpError(e, url));
    }
    const plan = interpret(res, url, start, size, validator, ctx.now());
    if (plan.offset === 0) {
      if (file.initialSize > 0) await file.truncate(0);
      if (start > 0) hash = createHash('sha256');
    }
    ctx.log.info({ url, status: res.statusCode, from: plan.offset, size }, plan.offset > 0 ? 'resuming download' : 'downloading');
    const progress = (bytes: number): void => ctx.onProgress({ url, validator: plan.validator, bytes });
    progress(plan.offset);
    ctx.onBytes?.(plan.offset, size);
    window.start();

    let offset = plan.offset;
    let lastCheckpoint = offset;
    res.body.on('error', () => undefined); // leaving the loop early destroys the body, which may surface as 'error'
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (offset + chunk.length > size) throw tooLarge(url, size, `body runs past ${size} bytes`);
        await file.writeAt(chunk, offset);
        hash.update(chunk);
        offset += chunk.length;
        window.add(chunk.length);
        ctx.onBytes?.(offset, size);
        await ctx.bucket.take(chunk.length, ac.signal);
        if (offset - lastCheckpoint >= ctx.checkpointBytes) {
          await file.sync();
          lastCheckpoint = offset;
          progress(offset);
        }
      }
    } catch (err) {
      const e = explain(err, (x) => (isTimeoutError(x) ? mapHttpError(x, url) : truncated(url, offset, size, x)));
      if (!(e instanceof UpgradeError && DELETE_PARTIAL_ON.has(e.code))) {
        // keep what arrived, durably, so the next run resumes from here (a failing fsync must not hide `e`)
        if (await file.sync().then(() => true, () => false)) progress(offset);
      }
      throw e;
    }
    await file.sync();
    progress(offset);
    if (offset < size) throw truncated(url, offset, size);
    const digest = hash.digest('hex');
    if (digest !== ctx.sha256) {
      if (plan.offset > 0) throw new StaleResume(`sha256 mismatch after resuming at byte ${plan.offset}`);
      throw new DownloadError('E_DOWNLOAD_HASH', `${url}: sha256 ${digest} does not match signed ${ctx.sha256}`, {
        context: { url, expected: ctx.sha256, actual: digest, size },
      });
    }
    ctx.log.info({ url, bytes: offset }, 'download complete');
    return { bytes: offset, sha256: digest, url };
  } finally {
    dog.stop();
    ctx.signal?.removeEventListener('abort', onAbort);
  }
}
