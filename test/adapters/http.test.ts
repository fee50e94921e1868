// HTTP adapter: capped fetches, the pinned fleet CA, and transport failures mapped to stable codes.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, fetchCapped, mapHttpError, type Dispatcher } from '../../src/adapters/http.js';
import { startFleetServer, type FleetServer } from '../../src/fleet/server.js';
import { rejection } from '../support/prefetch-fixture.js';
import { makeThrowawayCa, type ThrowawayCa } from '../support/tls.js';
import { TEST_FETCH_LIMITS } from '../support/net.js';

let dir: string;
let ca: ThrowawayCa;
let server: FleetServer;
let dispatcher: Dispatcher;
const doc = Buffer.alloc(10_000, 0x61);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'http-adapter-test-'));
  ca = await makeThrowawayCa(dir);
  await mkdir(join(dir, 'root'));
  await writeFile(join(dir, 'root', 'doc.json'), doc);
  server = await startFleetServer({ root: join(dir, 'root'), tls: { key: ca.key, cert: ca.cert }, host: '127.0.0.1', port: 0 });
  dispatcher = createDispatcher({ caFile: ca.caFile, headersTimeoutMs: 1000, bodyTimeoutMs: 1000, connectTimeoutMs: 2000 });
});
afterAll(async () => {
  await server?.close();
  await dispatcher?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('fetchCapped', () => {
  it('returns status, headers and the whole body when it fits', async () => {
    const res = await fetchCapped(`${server.url}/doc.json`, { dispatcher, maxBytes: doc.length, limits: TEST_FETCH_LIMITS });
    expect(res.status).toBe(200);
    expect(res.body.equals(doc)).toBe(true);
    expect(res.headers['content-type']).toBe('application/json');
  });

  it('returns non-2xx statuses for the caller to judge', async () => {
    const res = await fetchCapped(`${server.url}/missing.json`, { dispatcher, maxBytes: 1000, limits: TEST_FETCH_LIMITS });
    expect(res.status).toBe(404);
  });

  it('refuses a Content-Length over the cap with E_DOWNLOAD_TOO_LARGE', async () => {
    const err = await rejection(fetchCapped(`${server.url}/doc.json`, { dispatcher, maxBytes: doc.length - 1, limits: TEST_FETCH_LIMITS }));
    expect(err.code).toBe('E_DOWNLOAD_TOO_LARGE');
    expect(err.context['maxBytes']).toBe(doc.length - 1);
    expect(err.context['got']).toBe(`content-length ${doc.length}`);
  });

  it('stops a chunked body (no Content-Length) once it passes the cap', async () => {
    server.faults.extraBytes = 5000;
    try {
      const err = await rejection(fetchCapped(`${server.url}/doc.json`, { dispatcher, maxBytes: doc.length + 100, limits: TEST_FETCH_LIMITS }));
      expect(err.code).toBe('E_DOWNLOAD_TOO_LARGE');
      expect(err.context['got']).toBeGreaterThan(doc.length + 100);
      expect(err.context['got']).toBeLessThanOrEqual(doc.length + 100 + 64 * 1024); // at most one chunk past the cap
    } finally {
      delete server.faults.extraBytes;
    }
  });

  it('maps a body that stalls to E_HTTP_TIMEOUT', async () => {
    server.faults.hangAfterBytes = 100;
    try {
      const err = await rejection(fetchCapped(`${server.url}/doc.json`, { dispatcher, maxBytes: 1 << 20, limits: TEST_FETCH_LIMITS }));
      expect(err.code).toBe('E_HTTP_TIMEOUT');
    } finally {
      delete server.faults.hangAfterBytes;
    }
  });
});

describe('createDispatcher and error mapping', () => {
  it('trusts only the configured CA: the system roots do not vouch for the throwaway cert, nor another CA', async () => {
    const system = createDispatcher({ headersTimeoutMs: 2000, bodyTimeoutMs: 2000, connectTimeoutMs: 2000 });
    const otherDir = join(dir, 'other');
    await mkdir(otherDir);
    const other = await makeThrowawayCa(otherDir);
    const wrong = createDispatcher({ caFile: other.caFile, headersTimeoutMs: 2000, bodyTimeoutMs: 2000, connectTimeoutMs: 2000 });
    try {
      for (const d of [system, wrong]) {
        const err = await rejection(fetchCapped(`${server.url}/doc.json`, { dispatcher: d, maxBytes: 1 << 20, limits: TEST_FETCH_LIMITS }));
        expect(err.code).toBe('E_HTTP_NETWORK');
        expect(String(err.context['netCode'])).toMatch(/CERT|SIGNATURE|ISSUER/);
      }
    } finally {
      await system.close();
      await wrong.close();
    }
  });

  it('maps a refused connection to E_HTTP_NETWORK', async () => {
    const gone = await startFleetServer({ root: dir, tls: { key: ca.key, cert: ca.cert } });
    await gone.close();
    const err = await rejection(fetchCapped(`${gone.url}/x`, { dispatcher, maxBytes: 100, limits: TEST_FETCH_LIMITS }));
    expect(err.code).toBe('E_HTTP_NETWORK');
    expect(err.context['netCode']).toBe('ECONNREFUSED');
  });

  it('maps a server that never answers to E_HTTP_TIMEOUT (headers timeout)', async () => {
    const sockets: TLSSocket[] = [];
    const silent: TlsServer = createTlsServer({ key: ca.key, cert: ca.cert }, (s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const { port } = silent.address() as AddressInfo;
    try {
      const t0 = Date.now();
      const err = await rejection(fetchCapped(`https://127.0.0.1:${port}/x`, { dispatcher, maxBytes: 100, limits: TEST_FETCH_LIMITS }));
      expect(err.code).toBe('E_HTTP_TIMEOUT');
      expect(Date.now() - t0).toBeLessThan(4000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('mapHttpError passes UpgradeErrors through and keeps the cause', () => {
    const inner = Object.assign(new Error('boom'), { code: 'ECONNRESET' });
    const mapped = mapHttpError(inner, 'https://x/y');
    expect(mapped.code).toBe('E_HTTP_NETWORK');
    expect(mapped.cause).toBe(inner);
    expect(mapHttpError(mapped, 'https://x/y')).toBe(mapped);
  });
});
