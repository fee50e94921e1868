// HTTPS client adapter over undici: a dispatcher trusting the fleet CA, capped small fetches, error mapping to codes.
import { readFileSync } from 'node:fs';
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import { DownloadError, UpgradeError } from '../errors.js';

export type { Dispatcher };
/** Response headers as undici hands them over (lower-case names; string | string[]). */
export type IncomingHttpHeaders = Dispatcher.ResponseData['headers'];

export interface DispatcherOptions {
  /** PEM file of the fleet CA. When given it REPLACES the system roots (a private fleet pins its own CA). */
  caFile?: string | null;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
  /** Redirects followed per request (CDNs redirect to storage); 0 disables. Default 3. */
  maxRedirections?: number;
}

/** An undici Agent (composed with the redirect interceptor) for every request the agent makes. */
export function createDispatcher(opts: DispatcherOptions): Dispatcher {
  const ca = opts.caFile ? readFileSync(opts.caFile, 'utf8') : undefined;
  const agent = new Agent({
    headersTimeout: opts.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs,
    connectTimeout: opts.connectTimeoutMs,
    connect: ca === undefined ? {} : { ca },
  });
  const max = opts.maxRedirections ?? 3;
  return max > 0 ? agent.compose(interceptors.redirect({ maxRedirections: max })) : agent;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** undici / socket error code of `err` (or of its cause), if any. */
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

/** First value of a response header (undici gives string | string[] | undefined). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Drops a response body we will not read. undici turns destroy() into an 'error' event (RequestAbortedError);
 * with no listener that would be an uncaught exception, so one is attached first.
 */
export function discardBody(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

export interface FetchCappedOptions {
  dispatcher: Dispatcher;
  maxBytes: number;
  method?: 'GET' | 'POST' | 'HEAD' | 'PUT';
  body?: string | Buffer;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface CappedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Small documents (manifests, check-in answers): the whole body in memory, but never more than maxBytes.
 * Refuses on Content-Length up front, and while streaming (holds at most maxBytes + one chunk).
 * Any status is returned as is: interpreting it is the caller's job.
 */
export async function fetchCapped(url: string, opts: FetchCappedOptions): Promise<CappedResponse> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      dispatcher: opts.dispatcher,
      method: opts.method ?? 'GET',
      headers: opts.headers ?? {},
      body: opts.body ?? null,
      signal: opts.signal ?? null,
    });
  } catch (err) {
    throw mapHttpError(err, url);
  }
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
      if (total > opts.maxBytes) throw tooLarge(total);
      chunks.push(chunk);
    }
  } catch (err) {
    throw mapHttpError(err, url);
  }
  return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks, total) };
}
