// HTTPS client adapter: a dispatcher trusting the fleet CA, our redirect rules, bounded small fetches, error codes.
import { readFileSync } from 'node:fs';
import { DownloadError, RetryLaterError, UpgradeError } from '../errors.js';
import { startWatchdog, ThroughputWindow } from './http-guard.js';
import { NodeDispatcher, TIMEOUT, type DispatchResponse, type Dispatcher, type IncomingHttpHeaders } from './http-dispatcher.js';

export type { DispatchResponse, Dispatcher, IncomingHttpHeaders };

export interface DispatcherOptions {
  /** PEM file of the fleet CA. When given it REPLACES the system roots (a private fleet pins its own CA). */
  caFile?: string | null;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
}

/**
 * One dispatcher for every request the agent makes. It follows no redirect itself: `requestFollowing` does, by our
 * rules. The pinned CA is the dispatcher's, so it applies to every hop of a redirect as well.
 */
export function createDispatcher(opts: DispatcherOptions): Dispatcher {
  const ca = opts.caFile ? readFileSync(opts.caFile, 'utf8') : undefined;
  return new NodeDispatcher({
    headersTimeoutMs: opts.headersTimeoutMs, bodyTimeoutMs: opts.bodyTimeoutMs, connectTimeoutMs: opts.connectTimeoutMs,
    ...(ca === undefined ? {} : { ca }),
  });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface FollowOptions {
  dispatcher: Dispatcher;
  method: 'GET' | 'POST' | 'HEAD' | 'PUT';
  headers: Record<string, string>;
  body: string | Buffer | null;
  signal: AbortSignal | null;
  headersTimeout?: number;
  /** Redirects followed (CDNs redirect to storage); past it, E_HTTP_REDIRECT. */
  maxRedirects: number;
}

/**
 * A request that follows redirects by our rules: the same scheme only (https never becomes http, so nothing the device
 * sends or trusts crosses in clear text), at most `maxRedirects` hops, and a POST only through 307/308 (which keep the
 * method and body; a 301/302/303 would silently turn the report into a GET). Headers (Range, If-Range) go to every hop.
 */
export async function requestFollowing(url: string, o: FollowOptions): Promise<{ res: DispatchResponse; url: string }> {
  let current = url;
  for (let hops = 0; ; hops++) {
    let res: DispatchResponse;
    try {
      res = await o.dispatcher.request(current, {
        method: o.method, headers: o.headers, body: o.body, signal: o.signal,
        ...(o.headersTimeout === undefined ? {} : { headersTimeout: o.headersTimeout }),
      });
    } catch (err) {
      throw mapHttpError(err, current);
    }
    if (!REDIRECTS.has(res.statusCode)) return { res, url: current };
    discardBody(res.body);
    const refuse = (why: string, extra: Record<string, unknown> = {}): DownloadError =>
      new DownloadError('E_HTTP_REDIRECT', `${url}: ${why}`, { context: { url, at: current, status: res.statusCode, ...extra } });
    const location = headerValue(res.headers, 'location');
    if (!location) throw refuse(`HTTP ${res.statusCode} without a Location`);
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw refuse(`bad redirect Location ${JSON.stringify(location)}`);
    }
    if (next.protocol !== new URL(current).protocol) throw refuse(`redirect to ${next.protocol}// refused (same scheme only)`, { location: next.toString() });
    if (o.method === 'POST' && res.statusCode !== 307 && res.statusCode !== 308) throw refuse(`HTTP ${res.statusCode} on a POST refused (307/308 only)`);
    if (hops >= o.maxRedirects) throw refuse(`more than ${o.maxRedirects} redirects`, { location: next.toString() });
    current = next.toString();
  }
}

const TIMEOUT_CODES = new Set<string>([...Object.values(TIMEOUT), 'ETIMEDOUT']);

/** Transport / socket error code of `err` (or of its cause), if any. */
export function netErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

export function isTimeoutError(err: unknown): boolean {
  const code = netErrorCode(err);
  return code !== undefined && TIMEOUT_CODES.has(code);
}

/** Maps a transport failure to E_HTTP_TIMEOUT / E_HTTP_NETWORK; UpgradeErrors pass through unchanged. */
export function mapHttpError(err: unknown, url: string): UpgradeError {
  if (err instanceof UpgradeError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const context = { url, netCode: netErrorCode(err) ?? null };
  if (isTimeoutError(err)) return new DownloadError('E_HTTP_TIMEOUT', `${url}: ${detail}`, { cause: err, context });
  return new DownloadError('E_HTTP_NETWORK', `${url}: ${detail}`, { cause: err, context });
}

/** First value of a response header (string | string[] | undefined). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Retry-After as milliseconds from `nowMs`: delta-seconds or an HTTP-date; undefined when absent or garbled. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** Retry-After when a come-back-later answer carries none (or a garbled one): ask again in half a minute. */
export const DEFAULT_RETRY_AFTER_MS = 30_000;

/** "Come back later" on a GET (manifest or stream): 202 (being built), or 429/503 with a Retry-After. */
export function isComeBackLater(status: number, headers: IncomingHttpHeaders): boolean {
  return status === 202 || ((status === 429 || status === 503) && headerValue(headers, 'retry-after') !== undefined);
}

/** The server's delay as given (0 and past dates included): the retry policy bounds it where it is scheduled. */
export function comeBackLater(headers: IncomingHttpHeaders, url: string, nowMs: number): RetryLaterError {
  return new RetryLaterError(parseRetryAfter(headerValue(headers, 'retry-after'), nowMs) ?? DEFAULT_RETRY_AFTER_MS, url);
}

/**
 * Drops a response body we will not read. destroy() may surface as an 'error' event; with no listener that would be
 * an uncaught exception, so one is attached first.
 */
export function discardBody(body: DispatchResponse['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Bounds on one small exchange (manifest, check-in): an idle timer alone lets a server drip for years. */
export interface SmallFetchLimits {
  /** Overall deadline of the exchange, redirects and body included: E_HTTP_DEADLINE. */
  deadlineMs: number;
  /** Throughput floor over `slowWindowMs` once a whole window has passed: E_HTTP_SLOW (0 disables). */
  minBytesPerSec: number;
  slowWindowMs: number;
  maxRedirects: number;
}

export interface FetchCappedOptions {
  dispatcher: Dispatcher;
  maxBytes: number;
  limits: SmallFetchLimits;
  method?: 'GET' | 'POST' | 'HEAD' | 'PUT';
  body?: string | Buffer;
  headers?: Record<string, string>;
  now?: () => number;
}

export interface CappedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Small documents (manifests, check-in answers): the whole body in memory, but never more than maxBytes, and never
 * longer than the deadline. Refuses on Content-Length up front, and while streaming (holds at most maxBytes + one
 * chunk). Any status is returned as is: interpreting it is the caller's job.
 */
export async function fetchCapped(url: string, opts: FetchCappedOptions): Promise<CappedResponse> {
  const now = opts.now ?? Date.now;
  const { limits } = opts;
  const ac = new AbortController();
  const window = new ThroughputWindow(limits.minBytesPerSec, limits.slowWindowMs, now);
  const dog = startWatchdog({
    url, deadlineAt: now() + limits.deadlineMs, window, minBytesPerSec: limits.minBytesPerSec,
    windowSec: limits.slowWindowMs / 1000, now, tickMs: Math.max(20, Math.min(1000, limits.deadlineMs / 20, limits.slowWindowMs / 4)),
    trip: (err) => ac.abort(err), codes: { deadline: 'E_HTTP_DEADLINE', slow: 'E_HTTP_SLOW' },
  });
  // Whatever failed, a watchdog trip is the real story.
  const explain = (err: unknown): UpgradeError => (ac.signal.aborted ? (ac.signal.reason as UpgradeError) : mapHttpError(err, url));
  try {
    let res: DispatchResponse;
    try {
      ({ res } = await requestFollowing(url, {
        dispatcher: opts.dispatcher, method: opts.method ?? 'GET', headers: opts.headers ?? {}, body: opts.body ?? null,
        signal: ac.signal, maxRedirects: limits.maxRedirects,
      }));
    } catch (err) {
      throw explain(err);
    }
    window.start();
    const tooLarge = (got: number | string): DownloadError => {
      discardBody(res.body);
      return new DownloadError('E_DOWNLOAD_TOO_LARGE', `${url}: response exceeds ${opts.maxBytes} bytes`, {
        context: { url, maxBytes: opts.maxBytes, got, status: res.statusCode },
      });
    };
    const declared = headerValue(res.headers, 'content-length');
    if (declared !== undefined && Number(declared) > opts.maxBytes) throw tooLarge(`content-length ${declared}`);
    const chunks: Buffer[] = [];
    let total = 0;
    res.body.on('error', () => undefined); // see discardBody; the loop below still sees the error
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        total += chunk.length;
        window.add(chunk.length);
        if (total > opts.maxBytes) throw tooLarge(total);
        chunks.push(chunk);
      }
    } catch (err) {
      throw explain(err);
    }
    return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks, total) };
  } finally {
    dog.stop();
  }
}
