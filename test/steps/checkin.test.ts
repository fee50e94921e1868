// Check-in against the real HTTPS fleet server: report shape, target parsing, come-back-later, bad answers.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkIn, parseAnswer, type CheckinReport } from '../../src/steps/checkin.js';
import { startFleetServer, type FleetServer } from '../../src/fleet/server.js';
import { createDispatcher } from '../../src/adapters/http.js';
import { makeThrowawayCa } from '../support/tls.js';
import { UpgradeError, RetryLaterError } from '../../src/errors.js';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TEST_FETCH_LIMITS } from '../support/net.js';

const report: CheckinReport = {
  deviceId: 'd1', hardware: 'hw', channel: 'stable', agentVersion: '0.1.0', bootedVersion: 1, committedVersion: 1,
  deployment: null, lastError: null, freeBytes: { images: 1, state: 2 },
};

let server: FleetServer;
let answer: () => object;
let received: unknown[] = [];
let dispatcher: ReturnType<typeof createDispatcher>;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ua-checkin-'));
  mkdirSync(join(dir, 'ca'));
  const ca = await makeThrowawayCa(join(dir, 'ca'));
  server = await startFleetServer({ root: dir, tls: { key: ca.key, cert: ca.cert }, checkin: (b) => { received.push(b); return answer(); } });
  dispatcher = createDispatcher({ caFile: ca.caFile, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, connectTimeoutMs: 5000 });
});
afterAll(async () => {
  await server?.close();
});

describe('checkIn', () => {
  it('posts the report and resolves a relative manifest URL', async () => {
    received = [];
    answer = () => ({ target: { version: 4, manifest: 'manifests/4.json' }, checkinIntervalSec: 120 });
    const a = await checkIn(server.url, report, { dispatcher: dispatcher, limits: TEST_FETCH_LIMITS });
    expect(a.target).toEqual({ version: 4, manifestUrl: `${server.url}/manifests/4.json` });
    expect(a.checkinIntervalSec).toBe(120);
    expect(received[0]).toMatchObject({ schema: 1, deviceId: 'd1', bootedVersion: 1 });
  });
  it('answers no target', async () => {
    answer = () => ({ target: null });
    expect((await checkIn(server.url, report, { dispatcher: dispatcher, limits: TEST_FETCH_LIMITS })).target).toBeNull();
  });
  it('refuses malformed answers with E_CHECKIN', async () => {
    answer = () => ({ target: { version: -1, manifest: 'x' } });
    await expect(checkIn(server.url, report, { dispatcher: dispatcher, limits: TEST_FETCH_LIMITS })).rejects.toMatchObject({ code: 'E_CHECKIN' });
    expect(() => parseAnswer(Buffer.from('nope'), 'u', 'https://f/')).toThrow(UpgradeError);
  });
  it('turns an unreachable server into E_CHECKIN', async () => {
    await expect(checkIn('https://127.0.0.1:1', report, { dispatcher: dispatcher, limits: TEST_FETCH_LIMITS })).rejects.toMatchObject({ code: 'E_CHECKIN' });
  });
  it('turns 503 + Retry-After into come-back-later', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ua-checkin503-'));
    mkdirSync(join(dir, 'ca'));
    const ca = await makeThrowawayCa(join(dir, 'ca'));
    const busy = createServer({ key: ca.key, cert: ca.cert }, (_req, res) => {
      res.writeHead(503, { 'retry-after': '42' });
      res.end();
    });
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const d = createDispatcher({ caFile: ca.caFile, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, connectTimeoutMs: 5000 });
    try {
      const port = (busy.address() as AddressInfo).port;
      const err = await checkIn(`https://127.0.0.1:${port}`, report, { dispatcher: d, limits: TEST_FETCH_LIMITS }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RetryLaterError);
      expect((err as RetryLaterError).retryAfterMs).toBe(42_000);
    } finally {
      busy.close();
    }
  });
});
