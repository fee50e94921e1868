// The node:https dispatcher's body timeout: a stalled server trips it, a slow reader (full buffer) does not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NodeDispatcher, TIMEOUT } from '../../src/adapters/http-dispatcher.js';

const MiB = 1024 * 1024;
let server: http.Server;
let base: string;

beforeAll(async () => {
  // Sends 4 MiB at once, then holds the connection open without another byte.
  server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(8 * MiB) });
    res.write(Buffer.alloc(4 * MiB, 7));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('NodeDispatcher body timeout', () => {
  it('does not count time the reader leaves a full buffer unread, and trips once the server is the one stalling', async () => {
    const d = new NodeDispatcher({ headersTimeoutMs: 2000, bodyTimeoutMs: 300, connectTimeoutMs: 2000 });
    try {
      const res = await d.request(`${base}/x`, { method: 'GET', headers: {}, body: null, signal: null });
      expect(res.statusCode).toBe(200);
      const errors: unknown[] = [];
      res.body.on('error', (e) => errors.push(e));
      await sleep(1200); // four body timeouts with nothing read: the reader is the slow side
      expect(errors).toEqual([]);
      let got = 0;
      const err = await (async () => {
        try {
          for await (const chunk of res.body as AsyncIterable<Buffer>) got += chunk.length;
          return null;
        } catch (e) {
          return e as { code?: string };
        }
      })();
      expect(got).toBe(4 * MiB);
      expect(err?.code).toBe(TIMEOUT.body);
    } finally {
      await d.close();
    }
  });

  it('refuses a request after close', async () => {
    const d = new NodeDispatcher({ headersTimeoutMs: 2000, bodyTimeoutMs: 300, connectTimeoutMs: 2000 });
    await d.close();
    await expect(d.request(`${base}/x`, { method: 'GET', headers: {}, body: null, signal: null })).rejects.toMatchObject({ code: 'HTTP_CLIENT_CLOSED' });
  });
});
