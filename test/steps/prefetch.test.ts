// downloadStream over real HTTPS: plain download, Range resume, 202 come-back-later, mirror failover.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetryLaterError } from '../../src/errors.js';
import { downloadStream } from '../../src/steps/prefetch.js';
import { randomData, rejection, savedFrom, setupFixture, sleep, type Fixture } from '../support/prefetch-fixture.js';

const MiB = 1024 * 1024;
let fx: Fixture;

beforeAll(async () => {
  fx = await setupFixture();
});
afterAll(async () => {
  await fx?.close();
});

describe('downloadStream', () => {
  it('downloads a stream, checks its hash, and reports progress with the ETag as validator', async () => {
    const p = await fx.publish('streams/plain.zfs', randomData(MiB + 12345));
    const o = fx.opts(p);
    const res = await downloadStream(o);
    expect(res).toEqual({ bytes: p.size, sha256: p.sha256, url: `${fx.server.url}${p.path}` });
    expect(readFileSync(o.partialPath).equals(p.data)).toBe(true);
    const first = o.progress[0];
    const last = o.progress[o.progress.length - 1];
    expect(first?.bytes).toBe(0);
    expect(last?.bytes).toBe(p.size);
    expect(first?.validator).toMatch(/^"[0-9a-f-]+"$/);
    // checkpoints at most every 256 KiB: start + ~4 checkpoints + end
    expect(o.progress.length).toBeGreaterThanOrEqual(3);
    expect(o.progress.length).toBeLessThanOrEqual(2 + Math.ceil(p.size / (256 * 1024)));
    expect(fx.server.stats.get(p.path)?.ranges).toEqual(['']);
  });

  it('resolves relative mirror URLs against baseUrl', async () => {
    const p = await fx.publish('streams/rel/x.zfs', randomData(1000));
    const o = fx.opts(p, { urls: ['x.zfs'], baseUrl: `${fx.server.url}/streams/rel/manifest.json` });
    const res = await downloadStream(o);
    expect(res.url).toBe(`${fx.server.url}/streams/rel/x.zfs`);
  });

  it('resumes an interrupted download with Range + If-Range and re-sends at most 1 MiB', async () => {
    const p = await fx.publish('streams/resume.zfs', randomData(4 * MiB));
    fx.server.faults.dripBytesPerSec = 4 * MiB; // slow enough to interrupt mid-body
    fx.server.faults.paths = [p.path];
    const ac = new AbortController();
    const o1 = fx.opts(p, {
      signal: ac.signal,
      onProgress: (s) => {
        o1.progress.push({ ...s });
        if (s.bytes >= MiB) ac.abort(new Error('simulated crash'));
      },
    });
    await expect(downloadStream(o1)).rejects.toThrow('simulated crash');
    delete fx.server.faults.dripBytesPerSec;
    delete fx.server.faults.paths;
    const onDisk = statSync(o1.partialPath).size;
    expect(onDisk).toBeGreaterThanOrEqual(MiB);
    expect(onDisk).toBeLessThan(p.size);

    const o2 = fx.opts(p, { partialPath: o1.partialPath, saved: savedFrom(o1.progress) });
    const res = await downloadStream(o2);
    expect(res.sha256).toBe(p.sha256);
    expect(readFileSync(o1.partialPath).equals(p.data)).toBe(true);
    const st = fx.server.stats.get(p.path);
    expect(st?.requests).toBe(2);
    expect(st?.ranges).toEqual(['', `bytes=${onDisk}-`]);
    expect(o2.progress[0]?.bytes).toBe(onDisk);
    expect((st?.bytesSent ?? 0) - p.size).toBeLessThanOrEqual(MiB);
  });

  it('does not send If-Range to a different mirror: starts from 0 there', async () => {
    const p = await fx.publish('streams/other-mirror.zfs', randomData(300_000));
    const m2 = await fx.mirror();
    const partialPath = fx.partial();
    writeFileSync(partialPath, p.data.subarray(0, 100_000));
    const o = fx.opts(p, { partialPath, urls: [`${m2.url}${p.path}`], saved: { url: `${fx.server.url}${p.path}`, validator: '"abc"' } });
    await downloadStream(o);
    expect(m2.stats.get(p.path)?.ranges).toEqual(['']);
    expect(readFileSync(partialPath).equals(p.data)).toBe(true);
  });

  it('tries the saved mirror first so its partial is not thrown away', async () => {
    const p = await fx.publish('streams/saved-first.zfs', randomData(300_000));
    const m2 = await fx.mirror();
    // an earlier run on m2 reported its validator, then died with 200 000 bytes on disk
    const o0 = fx.opts(p, { urls: [`${m2.url}${p.path}`] });
    await downloadStream(o0);
    const partialPath = fx.partial();
    writeFileSync(partialPath, p.data.subarray(0, 200_000));
    const o = fx.opts(p, { partialPath, urls: [`${fx.server.url}${p.path}`, `${m2.url}${p.path}`], saved: savedFrom(o0.progress) });
    const res = await downloadStream(o);
    expect(res.url).toBe(`${m2.url}${p.path}`);
    expect(res.sha256).toBe(p.sha256);
    expect(m2.stats.get(p.path)?.ranges).toEqual(['', 'bytes=200000-']);
    expect(fx.server.stats.get(p.path)).toBeUndefined();
  });

  it('returns at once, without a request, when the partial is already complete and hashes right', async () => {
    const p = await fx.publish('streams/complete.zfs', randomData(5000));
    const partialPath = fx.partial();
    writeFileSync(partialPath, p.data);
    const res = await downloadStream(fx.opts(p, { partialPath }));
    expect(res.sha256).toBe(p.sha256);
    expect(fx.server.stats.get(p.path)).toBeUndefined();
  });

  it('turns 202 into RetryLaterError; a caller loop gets the stream on the third request', async () => {
    const p = await fx.publish('streams/pending.zfs', randomData(70_000));
    fx.server.faults.pending = new Map([[p.path, 2]]);
    const o = fx.opts(p);
    const waits: number[] = [];
    let res;
    for (let i = 0; i < 5 && !res; i++) {
      try {
        res = await downloadStream(o);
      } catch (err) {
        if (!(err instanceof RetryLaterError)) throw err;
        expect(err.code).toBe('E_RETRY_LATER');
        waits.push(err.retryAfterMs);
        await sleep(err.retryAfterMs);
      }
    }
    expect(res?.sha256).toBe(p.sha256);
    expect(waits).toEqual([1000, 1000]);
    expect(fx.server.stats.get(p.path)?.requests).toBe(3);
  });

  it('fails over from a dead mirror and a 404 mirror to a good one', async () => {
    const p = await fx.publish('streams/failover.zfs', randomData(50_000));
    const dead = await fx.mirror({ down: true });
    const o = fx.opts(p, { urls: [`${dead.url}${p.path}`, `${fx.server.url}/streams/missing.zfs`, `${fx.server.url}${p.path}`] });
    const res = await downloadStream(o);
    expect(res.url).toBe(`${fx.server.url}${p.path}`);
    expect(dead.stats.get(p.path)?.requests).toBeGreaterThanOrEqual(1);
    expect(fx.server.stats.get('/streams/missing.zfs')?.requests).toBe(1);
  });

  it('reports E_MIRRORS_EXHAUSTED with every mirror error when all are down', async () => {
    const p = await fx.publish('streams/all-down.zfs', randomData(1000));
    const dead = await fx.mirror({ down: true });
    const refused = await fx.mirror();
    const refusedUrl = `${refused.url}${p.path}`;
    await refused.close(); // nothing listens there any more: ECONNREFUSED
    const o = fx.opts(p, { urls: [`${dead.url}${p.path}`, refusedUrl] });
    const err = await rejection(downloadStream(o));
    expect(err.code).toBe('E_MIRRORS_EXHAUSTED');
    const errors = err.context['errors'] as { url: string; code: string }[];
    expect(errors.map((e) => e.code)).toEqual(['E_HTTP_NETWORK', 'E_HTTP_NETWORK']);
    expect(errors[1]?.url).toBe(refusedUrl);
    expect((err.cause as { code?: string }).code).toBe('E_HTTP_NETWORK');
    expect(existsSync(o.partialPath)).toBe(true); // created empty; nothing trusted in it
    expect(statSync(o.partialPath).size).toBe(0);
  });

  it('rejects a mirror served with an untrusted certificate (the CA is pinned)', async () => {
    const p = await fx.publish('streams/untrusted.zfs', randomData(1000));
    const { createDispatcher } = await import('../../src/adapters/http.js');
    const strict = createDispatcher({ caFile: null, headersTimeoutMs: 2000, bodyTimeoutMs: 2000, connectTimeoutMs: 2000 });
    try {
      const err = await rejection(downloadStream(fx.opts(p, { dispatcher: strict })));
      expect(err.code).toBe('E_HTTP_NETWORK');
    } finally {
      await strict.close();
    }
  });

  it('follows a redirect to another origin (a CDN) and keeps Range + If-Range on the way', async () => {
    const p = await fx.publish('streams/redirected.zfs', randomData(400_000));
    const cdn = createServer({ key: fx.ca.key, cert: fx.ca.cert }, (req, res) => {
      res.writeHead(302, { location: `${fx.server.url}${req.url ?? '/'}` }).end();
    });
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', () => r()));
    const cdnUrl = `https://127.0.0.1:${(cdn.address() as AddressInfo).port}${p.path}`;
    try {
      const o0 = fx.opts(p, { urls: [cdnUrl] });
      await downloadStream(o0);
      const partialPath = fx.partial();
      writeFileSync(partialPath, p.data.subarray(0, 150_000));
      const res = await downloadStream(fx.opts(p, { partialPath, urls: [cdnUrl], saved: savedFrom(o0.progress) }));
      expect(res.sha256).toBe(p.sha256);
      expect(res.url).toBe(cdnUrl); // the mirror's own URL is what gets saved, not where it pointed this time
      expect(fx.server.stats.get(p.path)?.ranges).toEqual(['', 'bytes=150000-']);
    } finally {
      cdn.closeAllConnections();
      await new Promise<void>((r) => cdn.close(() => r()));
    }
  });
});
