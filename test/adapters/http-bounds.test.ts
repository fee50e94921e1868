// A hostile server against the HTTP adapter: drips and stalls meet a deadline, redirects follow our rules only.
import { mkdir } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, fetchCapped, type Dispatcher } from '../../src/adapters/http.js';
import { startFleetServer, type FleetServer } from '../../src/fleet/server.js';
import { checkIn, type CheckinReport } from '../../src/steps/checkin.js';
import { downloadStream } from '../../src/steps/prefetch.js';
import { makeThrowawayCa } from '../support/tls.js';
import { TEST_FETCH_LIMITS } from '../support/net.js';
import { randomData, rejection, setupFixture, type Fixture } from '../support/prefetch-fixture.js';

let fx: Fixture;
let other: FleetServer;
let foreign: FleetServer;
let plain: HttpServer;
let plainUrl: string;
const plainHits: string[] = [];
let checkins: unknown[] = [];

const report: CheckinReport = {
  deviceId: 'd1', hardware: 'hw', channel: 'stable', agentVersion: '0.1.0', bootedVersion: 1, committedVersion: 1,
  deployment: null, lastError: null, freeBytes: { images: 1, state: 2 },
};

beforeAll(async () => {
  fx = await setupFixture();
  await fx.publish('doc.json', Buffer.alloc(10_000, 0x61));
  // A second https host with a certificate from the same CA (a CDN's storage), and one from another CA.
  other = await startFleetServer({ root: fx.root, tls: { key: fx.ca.key, cert: fx.ca.cert }, checkin: (b) => (checkins.push(b), { target: null }) });
  await mkdir(`${fx.dir}/stranger`);
  const stranger = await makeThrowawayCa(`${fx.dir}/stranger`);
  foreign = await startFleetServer({ root: fx.root, tls: { key: stranger.key, cert: stranger.cert } });
  plain = createHttpServer((req, res) => {
    plainHits.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"target":null}');
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
  plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await other?.close();
  await foreign?.close();
  await new Promise<void>((r) => (plain ? plain.close(() => r()) : r()));
  await fx?.close();
});

const get = (url: string, limits = TEST_FETCH_LIMITS, d: Dispatcher = fx.dispatcher): Promise<unknown> =>
  fetchCapped(url, { dispatcher: d, maxBytes: 1 << 20, limits });

describe('small fetches have an overall deadline and a throughput floor', () => {
  it('a manifest dripped byte by byte ends at the deadline (E_HTTP_DEADLINE), not when the server pleases', async () => {
    fx.server.faults.dripBytesPerSec = 200; // 10 000 bytes would take 50 s; the idle timer never fires
    try {
      const t0 = Date.now();
      const err = await rejection(get(`${fx.server.url}/doc.json`, { ...TEST_FETCH_LIMITS, deadlineMs: 1500 }));
      expect(err.code).toBe('E_HTTP_DEADLINE');
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      fx.server.faults.dripBytesPerSec = undefined;
    }
  }, 15_000);

  it('a body slower than the minimum throughput ends with E_HTTP_SLOW', async () => {
    fx.server.faults.dripBytesPerSec = 1000;
    try {
      const err = await rejection(get(`${fx.server.url}/doc.json`, { ...TEST_FETCH_LIMITS, minBytesPerSec: 4000, slowWindowMs: 600 }));
      expect(err.code).toBe('E_HTTP_SLOW');
    } finally {
      fx.server.faults.dripBytesPerSec = undefined;
    }
  }, 15_000);

  it('a check-in to a server that never answers ends at the deadline, reported as E_CHECKIN with the cause', async () => {
    const hung = await startFleetServer({ root: fx.root, tls: { key: fx.ca.key, cert: fx.ca.cert }, checkin: () => new Promise<object>(() => undefined) });
    try {
      const err = await rejection(checkIn(hung.url, report, { dispatcher: fx.dispatcher, limits: { ...TEST_FETCH_LIMITS, deadlineMs: 1000 } }));
      expect(err.code).toBe('E_CHECKIN');
      expect(err.context['netCode']).toBe('E_HTTP_DEADLINE');
    } finally {
      await hung.close();
    }
  }, 15_000);
});

describe('redirects: same scheme, few hops, the pinned CA on every hop', () => {
  it('follows a redirect to another https host trusted by the same CA', async () => {
    fx.server.faults.redirects = new Map([['/moved.json', `${other.url}/doc.json`]]);
    try {
      const res = (await get(`${fx.server.url}/moved.json`)) as { status: number; body: Buffer };
      expect(res.status).toBe(200);
      expect(res.body.length).toBe(10_000);
    } finally {
      fx.server.faults.redirects = undefined;
    }
  });

  it('refuses a redirect from https to http, and nothing reaches the http server', async () => {
    fx.server.faults.redirects = new Map([['/moved.json', `${plainUrl}/doc.json`], ['/v1/checkin', `${plainUrl}/v1/checkin`]]);
    plainHits.length = 0;
    try {
      expect((await rejection(get(`${fx.server.url}/moved.json`))).code).toBe('E_HTTP_REDIRECT');
      const err = await rejection(checkIn(fx.server.url, report, { dispatcher: fx.dispatcher, limits: TEST_FETCH_LIMITS }));
      expect(err.context['netCode']).toBe('E_HTTP_REDIRECT');
      expect(plainHits).toEqual([]);
    } finally {
      fx.server.faults.redirects = undefined;
    }
  });

  it('resends a check-in through 307 to the same scheme, body intact', async () => {
    fx.server.faults.redirects = new Map([['/v1/checkin', `${other.url}/v1/checkin`]]);
    checkins = [];
    try {
      const a = await checkIn(fx.server.url, report, { dispatcher: fx.dispatcher, limits: TEST_FETCH_LIMITS });
      expect(a.target).toBeNull();
      expect(checkins).toHaveLength(1);
      expect(checkins[0]).toMatchObject({ deviceId: 'd1' });
    } finally {
      fx.server.faults.redirects = undefined;
    }
  });

  it('refuses more hops than maxRedirects', async () => {
    fx.server.faults.redirects = new Map([['/a', '/b'], ['/b', '/c'], ['/c', '/d'], ['/d', '/doc.json']]);
    try {
      const err = await rejection(get(`${fx.server.url}/a`, { ...TEST_FETCH_LIMITS, maxRedirects: 3 }));
      expect(err.code).toBe('E_HTTP_REDIRECT');
      const res = (await get(`${fx.server.url}/a`, { ...TEST_FETCH_LIMITS, maxRedirects: 4 })) as { status: number };
      expect(res.status).toBe(200);
    } finally {
      fx.server.faults.redirects = undefined;
    }
  });

  it('a redirect to a host whose certificate is not from the pinned CA fails the TLS check', async () => {
    fx.server.faults.redirects = new Map([['/moved.json', `${foreign.url}/doc.json`]]);
    try {
      const err = await rejection(get(`${fx.server.url}/moved.json`));
      expect(err.code).toBe('E_HTTP_NETWORK');
      expect(foreign.stats.get('/doc.json')).toBeUndefined();
    } finally {
      fx.server.faults.redirects = undefined;
    }
  });

  it('a stream download follows a redirect to storage and refuses one to http', async () => {
    const p = await fx.publish('streams/r.zfs', randomData(50_000));
    fx.server.faults.redirects = new Map([['/cdn/r.zfs', `${other.url}${p.path}`], ['/cdn/h.zfs', `${plainUrl}${p.path}`]]);
    plainHits.length = 0;
    try {
      const ok = await downloadStream({ ...fx.opts(p), urls: [`${fx.server.url}/cdn/r.zfs`] });
      expect(ok.sha256).toBe(p.sha256);
      const err = await rejection(downloadStream({ ...fx.opts(p), urls: [`${fx.server.url}/cdn/h.zfs`] }));
      expect(err.code).toBe('E_HTTP_REDIRECT');
      // A refused redirect blames that mirror only: the next one serves the stream.
      const next = await downloadStream({ ...fx.opts(p), urls: [`${fx.server.url}/cdn/h.zfs`, `${fx.server.url}/cdn/r.zfs`] });
      expect(next.url).toBe(`${fx.server.url}/cdn/r.zfs`);
      expect(plainHits).toEqual([]);
    } finally {
      fx.server.faults.redirects = undefined;
    }
  });
});

describe('a dispatcher follows nothing by itself', () => {
  it('a plain request through it sees the 302', async () => {
    fx.server.faults.redirects = new Map([['/moved.json', '/doc.json']]);
    try {
      const d = createDispatcher({ caFile: fx.ca.caFile, headersTimeoutMs: 2000, bodyTimeoutMs: 2000, connectTimeoutMs: 2000 });
      const res = await d.request(`${fx.server.url}/moved.json`, { method: 'GET', headers: {}, body: null, signal: null });
      res.body.resume();
      expect(res.statusCode).toBe(302);
      await d.close();
    } finally {
      fx.server.faults.redirects = undefined;
    }
  });
});
