// Reference fleet server: static files with ETag/Range/If-Range, path containment, 202 pending, check-in, stats.
import { request as httpsRequest } from 'node:https';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, fetchCapped, headerValue, type Dispatcher } from '../../src/adapters/http.js';
import { startFleetServer, type FleetServer } from '../../src/fleet/server.js';
import { parseRange, resolveUnder } from '../../src/fleet/static-files.js';
import { makeThrowawayCa, type ThrowawayCa } from '../support/tls.js';
import { TEST_FETCH_LIMITS } from '../support/net.js';

let dir: string;
let root: string;
let ca: ThrowawayCa;
let server: FleetServer;
let dispatcher: Dispatcher;
const checkins: unknown[] = [];
const data = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-server-test-'));
  ca = await makeThrowawayCa(dir);
  root = join(dir, 'root');
  await mkdir(join(root, 'streams'), { recursive: true });
  await writeFile(join(root, 'streams', 'a.zfs'), data);
  await writeFile(join(dir, 'secret.txt'), 'outside root');
  server = await startFleetServer({
    root,
    tls: { key: ca.key, cert: ca.cert },
    host: '127.0.0.1',
    port: 0,
    checkin: (body) => {
      checkins.push(body);
      return { target: null, checkinIntervalSec: 60 };
    },
  });
  dispatcher = createDispatcher({ caFile: ca.caFile, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, connectTimeoutMs: 5000 });
});
afterAll(async () => {
  await server?.close();
  await dispatcher?.close();
  await rm(dir, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' | 'POST' = 'GET', body?: string) =>
  fetchCapped(`${server.url}${path}`, { dispatcher, maxBytes: 1 << 20, limits: TEST_FETCH_LIMITS, headers, method, ...(body === undefined ? {} : { body }) });

/** A request whose path goes on the wire exactly as written (URL would normalise `..`). */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = httpsRequest({ host: '127.0.0.1', port: server.port, path, ca: ca.caPem, servername: 'localhost' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('fleet server static files', () => {
  it('serves a file with a strong ETag, Last-Modified, Accept-Ranges and Content-Length', async () => {
    const res = await get('/streams/a.zfs');
    expect(res.status).toBe(200);
    expect(res.body.equals(data)).toBe(true);
    expect(headerValue(res.headers, 'etag')).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
    expect(headerValue(res.headers, 'last-modified')).toMatch(/GMT$/);
    expect(headerValue(res.headers, 'accept-ranges')).toBe('bytes');
    expect(headerValue(res.headers, 'content-length')).toBe(String(data.length));
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await get('/streams/a.zfs', {}, 'HEAD');
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(0);
    expect(headerValue(res.headers, 'content-length')).toBe(String(data.length));
  });

  it('serves single byte ranges with 206 and Content-Range', async () => {
    const open = await get('/streams/a.zfs', { range: 'bytes=30-' });
    expect(open.status).toBe(206);
    expect(open.body.toString()).toBe('uvwxyz');
    expect(headerValue(open.headers, 'content-range')).toBe(`bytes 30-35/${data.length}`);
    const closed = await get('/streams/a.zfs', { range: 'bytes=2-4' });
    expect(closed.body.toString()).toBe('234');
    const suffix = await get('/streams/a.zfs', { range: 'bytes=-3' });
    expect(suffix.body.toString()).toBe('xyz');
  });

  it('answers 416 with bytes */size for a range past the end', async () => {
    const res = await get('/streams/a.zfs', { range: `bytes=${data.length}-` });
    expect(res.status).toBe(416);
    expect(headerValue(res.headers, 'content-range')).toBe(`bytes */${data.length}`);
  });

  it('honours If-Range: matching ETag or date gives the range, anything else the whole file', async () => {
    const full = await get('/streams/a.zfs');
    const etag = headerValue(full.headers, 'etag') as string;
    const lastModified = headerValue(full.headers, 'last-modified') as string;
    expect((await get('/streams/a.zfs', { range: 'bytes=10-', 'if-range': etag })).status).toBe(206);
    expect((await get('/streams/a.zfs', { range: 'bytes=10-', 'if-range': lastModified })).status).toBe(206);
    const stale = await get('/streams/a.zfs', { range: 'bytes=10-', 'if-range': '"other"' });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(data)).toBe(true);
  });

  it('changes the ETag when the file is replaced (new inode), even with the same bytes', async () => {
    await writeFile(join(root, 'streams', 'b.zfs'), data);
    const before = headerValue((await get('/streams/b.zfs', {}, 'HEAD')).headers, 'etag');
    await writeFile(join(root, 'streams', 'b.tmp'), data);
    await rename(join(root, 'streams', 'b.tmp'), join(root, 'streams', 'b.zfs'));
    const after = headerValue((await get('/streams/b.zfs', {}, 'HEAD')).headers, 'etag');
    expect(after).not.toBe(before);
  });

  it('never serves files outside root', async () => {
    for (const path of ['/../secret.txt', '/streams/../../secret.txt', '/%2e%2e/secret.txt', '/streams/%2e%2e%2f%2e%2e%2fsecret.txt', '/..%5csecret.txt']) {
      const res = await rawGet(path);
      expect(res.status, path).toBe(404);
      expect(res.body).not.toContain('outside root');
    }
    expect((await get('/streams')).status).toBe(404); // directories are not files
  });

  it('counts requests, body bytes sent and Range headers per path', async () => {
    await writeFile(join(root, 'streams', 'c.zfs'), data);
    await get('/streams/c.zfs');
    await get('/streams/c.zfs', { range: 'bytes=20-' });
    expect(server.stats.get('/streams/c.zfs')).toEqual({ requests: 2, bytesSent: data.length + (data.length - 20), ranges: ['', 'bytes=20-'] });
  });

  it('answers 202 + Retry-After: 1 while a path is pending', async () => {
    await writeFile(join(root, 'streams', 'p.zfs'), data);
    server.faults.pending = new Map([['/streams/p.zfs', 1]]);
    const first = await get('/streams/p.zfs');
    expect(first.status).toBe(202);
    expect(headerValue(first.headers, 'retry-after')).toBe('1');
    expect((await get('/streams/p.zfs')).status).toBe(200);
    delete server.faults.pending;
  });
});

describe('fleet server check-in', () => {
  it('passes the JSON body to the hook and returns its answer', async () => {
    const res = await get('/v1/checkin', { 'content-type': 'application/json' }, 'POST', JSON.stringify({ deviceId: 'd1' }));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ target: null, checkinIntervalSec: 60 });
    expect(checkins.at(-1)).toEqual({ deviceId: 'd1' });
  });

  it('rejects a body that is not JSON and a GET', async () => {
    expect((await get('/v1/checkin', {}, 'POST', 'not json')).status).toBe(400);
    expect((await get('/v1/checkin')).status).toBe(405);
  });
});

describe('static-file helpers', () => {
  it('resolveUnder keeps paths inside root', () => {
    expect(resolveUnder('/srv/root', '/streams/a.zfs')).toBe('/srv/root/streams/a.zfs');
    expect(resolveUnder('/srv/root', '/a/../b')).toBeNull();
    expect(resolveUnder('/srv/root', '/%2e%2e/x')).toBeNull();
    expect(resolveUnder('/srv/root', '/a%00b')).toBeNull();
    expect(resolveUnder('/srv/root', '/%E0%A4%A')).toBeNull();
    expect(resolveUnder('/srv/root', '/')).toBeNull();
  });

  it('parseRange handles open, closed, suffix, multi and bad ranges', () => {
    expect(parseRange('bytes=5-', 10)).toEqual({ kind: 'partial', start: 5, end: 9 });
    expect(parseRange('bytes=5-100', 10)).toEqual({ kind: 'partial', start: 5, end: 9 });
    expect(parseRange('bytes=-4', 10)).toEqual({ kind: 'partial', start: 6, end: 9 });
    expect(parseRange('bytes=10-', 10)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=0-1,3-4', 10)).toEqual({ kind: 'full' });
    expect(parseRange('bytes=5-2', 10)).toEqual({ kind: 'full' });
    expect(parseRange('items=1-2', 10)).toEqual({ kind: 'full' });
  });
});
