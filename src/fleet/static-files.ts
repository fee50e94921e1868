// Static-file HTTP semantics for the reference fleet server: safe path mapping, validators, byte ranges, paced body.
import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { FaultHooks } from './server.js';

const CHUNK = 64 * 1024;

/**
 * Maps a URL path onto a file under root, or null when it would escape root (`..`, NUL, backslashes,
 * bad escapes). Checked both on the segments and on the resolved path.
 */
export function resolveUnder(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const segments = decoded.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0 || segments.some((s) => s === '..')) return null;
  const base = resolve(root);
  const full = resolve(base, ...segments);
  const rel = relative(base, full);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) return null;
  return full;
}

/**
 * Strong ETag from size, mtime (ns) and inode: replacing a file by rename (how publishers should do it) or
 * rewriting it changes the tag, so a stale If-Range gets the whole new file instead of a spliced one.
 */
export function etagOf(st: BigIntStats): string {
  return `"${st.size.toString(16)}-${st.mtimeNs.toString(16)}-${st.ino.toString(16)}"`;
}

export function lastModifiedOf(st: BigIntStats): string {
  return new Date(Number(st.mtimeMs)).toUTCString();
}

/** If-Range holds when it names the current strong ETag, or exactly the current Last-Modified date. */
export function ifRangeMatches(ifRange: string | undefined, etag: string, lastModified: string): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  if (v.startsWith('W/')) return false;
  return v.startsWith('"') ? v === etag : v === lastModified;
}

export type RangeAnswer = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * One byte range out of a Range header: `bytes=N-`, `bytes=N-M`, `bytes=-S`. Multiple ranges or a malformed header
 * get the full file (RFC 9110 lets a server ignore Range); a start at or past the end is unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'full' };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}

export function contentTypeOf(path: string): string {
  if (path.endsWith('.json')) return 'application/json';
  if (path.endsWith('.txt')) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}

export async function readAt(fh: FileHandle, pos: number, len: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(len);
  const { bytesRead } = await fh.read(buf, 0, len, pos);
  return buf.subarray(0, bytesRead);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes [from, to) of the source, honouring the body faults; returns when done, cut, or stalled. */
export async function sendBody(
  res: ServerResponse, read: (pos: number, len: number) => Promise<Buffer>, from: number, to: number, f: FaultHooks, sent: (n: number) => void,
): Promise<void> {
  const rate = f.dripBytesPerSec;
  const chunk = rate ? Math.max(1, Math.min(CHUNK, Math.floor(rate / 20))) : CHUNK;
  const t0 = Date.now();
  let body = 0;
  for (let pos = from; pos < to; ) {
    let n = Math.min(chunk, to - pos);
    if (f.hangAfterBytes !== undefined) {
      n = Math.min(n, f.hangAfterBytes - body);
      if (n <= 0) return; // stall: headers and some bytes out, socket left open (close() cuts it)
    }
    if (f.truncateAt !== undefined) {
      n = Math.min(n, f.truncateAt - body);
      if (n <= 0) {
        res.socket?.end(); // graceful: the bytes already written still arrive, then the connection closes
        return;
      }
    }
    const buf = await read(pos, n);
    if (buf.length === 0 || !(await write(res, buf, sent))) return;
    pos += buf.length;
    body += buf.length;
    if (rate) await sleep(Math.max(0, t0 + (body / rate) * 1000 - Date.now()));
  }
  if (f.extraBytes !== undefined && !(await write(res, Buffer.alloc(f.extraBytes, 0xa5), sent))) return;
  if (f.lieContentLength !== undefined) {
    const socket = res.socket;
    res.end(() => socket?.end()); // the client must see the connection end, not wait for the promised bytes
    return;
  }
  res.end();
}

/** res.write with backpressure; false when the connection went away. */
function write(res: ServerResponse, buf: Buffer, sent: (n: number) => void): Promise<boolean> {
  return new Promise((done) => {
    if (res.destroyed) return done(false);
    const ok = res.write(buf, (err) => {
      if (!err) sent(buf.length);
    });
    if (ok) return done(true);
    const finish = (v: boolean): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      done(v);
    };
    const onDrain = (): void => finish(true);
    const onClose = (): void => finish(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
