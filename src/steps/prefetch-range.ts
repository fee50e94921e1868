// HTTP response rules for resumable downloads: validators, Content-Range, Retry-After, and what a status means.
import type { DispatchResponse } from '../adapters/http-dispatcher.js';
import { comeBackLater, discardBody, headerValue, isComeBackLater } from '../adapters/http.js';
import { DownloadError } from '../errors.js';

/**
 * The validator to save for If-Range: a strong ETag if there is one, else Last-Modified.
 * Weak ETags (W/"...") are useless here: RFC 9110 forbids them in If-Range.
 */
export function pickValidator(etag: string | undefined, lastModified: string | undefined): string | null {
  if (etag && !etag.startsWith('W/')) return etag;
  return lastModified ?? null;
}

export interface ContentRange {
  start: number;
  end: number;
  /** null when the server sent `*` (length unknown). */
  total: number | null;
}

/** Parses `bytes START-END/TOTAL` (TOTAL may be `*`); null when malformed. */
export function parseContentRange(value: string | undefined): ContentRange | null {
  if (!value) return null;
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return null;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? null : Number(m[3]);
  if (end < start || (total !== null && end >= total)) return null;
  return { start, end, total };
}

/** Declared Content-Length, or undefined when absent (chunked) or not a number. */
export function parseContentLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
}

/** The resumed prefix is unusable (416, or the whole file hashes wrong): restart this mirror from byte 0, once. */
export class StaleResume extends Error {}

export function tooLarge(url: string, size: number, why: string): DownloadError {
  return new DownloadError('E_DOWNLOAD_TOO_LARGE', `${url}: ${why}; signed size is ${size}`, { context: { url, size, why } });
}

export function truncated(url: string, bytes: number, size: number, cause?: unknown): DownloadError {
  return new DownloadError('E_DOWNLOAD_TRUNCATED', `${url}: got ${bytes} of ${size} bytes`, { cause, context: { url, bytes, size } });
}

/** Reads status and headers before any body byte is accepted: where to write from, or why not to. */
export function interpret(
  res: DispatchResponse, url: string, start: number, size: number, sentValidator: string | null, nowMs: number,
): { offset: number; validator: string | null } {
  const h = (name: string): string | undefined => headerValue(res.headers, name);
  const status = res.statusCode;
  const refuse = (err: Error): Error => {
    discardBody(res.body);
    return err;
  };
  if (isComeBackLater(status, res.headers)) throw refuse(comeBackLater(res.headers, url, nowMs));
  const validator = pickValidator(h('etag'), h('last-modified'));
  const length = parseContentLength(h('content-length'));
  if (status === 200) {
    if (length !== undefined && length > size) throw refuse(tooLarge(url, size, `content-length ${length}`));
    if (length !== undefined && length < size) throw refuse(truncated(url, length, size));
    return { offset: 0, validator };
  }
  if (status === 206 && start > 0) {
    const range = parseContentRange(h('content-range'));
    if (range && ((range.total ?? 0) > size || range.end >= size)) throw refuse(tooLarge(url, size, `content-range ${h('content-range')}`));
    if (length !== undefined && start + length > size) throw refuse(tooLarge(url, size, `content-length ${length} from ${start}`));
    if (!range || range.start !== start || (range.total !== null && range.total !== size)) {
      throw refuse(new DownloadError('E_HTTP_STATUS', `${url}: bad content-range ${h('content-range')} for bytes=${start}-`, {
        context: { url, status, contentRange: h('content-range') ?? null, start, size },
      }));
    }
    return { offset: start, validator: validator ?? sentValidator };
  }
  if (status === 416 && start > 0) throw refuse(new StaleResume(`HTTP 416 for bytes=${start}-`));
  throw refuse(new DownloadError('E_HTTP_STATUS', `${url}: HTTP ${status}`, { context: { url, status } }));
}
