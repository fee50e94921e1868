// downloadStream against misbehaving servers: drip, hang, too many bytes, truncation, bad bits, replaced files, deadline.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FaultHooks } from '../../src/fleet/server.js';
import { downloadStream } from '../../src/steps/prefetch.js';
import { randomData, rejection, savedFrom, setupFixture, type Fixture } from '../support/prefetch-fixture.js';

const KiB = 1024;
const MiB = 1024 * KiB;
let fx: Fixture;

beforeAll(async () => {
  fx = await setupFixture({ bodyTimeoutMs: 1500 });
});
afterAll(async () => {
  await fx?.close();
});
afterEach(() => {
  for (const k of Object.keys(fx.server.faults)) delete fx.server.faults[k as keyof FaultHooks];
});

describe('downloadStream guards', () => {
  it('aborts a dripping server with E_DOWNLOAD_SLOW and keeps the partial for a resume', async () => {
    const p = await fx.publish('drip.zfs', randomData(MiB));
    fx.server.faults.dripBytesPerSec = 32 * KiB;
    const o = fx.opts(p, { limits: { minBytesPerSec: 256 * KiB, slowWindowSec: 2, deadlineSec: 60, headersTimeoutSec: 5, maxRedirects: 3 } });
    const t0 = Date.now();
    const err = await rejection(downloadStream(o));
    expect(err.code).toBe('E_DOWNLOAD_SLOW');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err.context['minBytesPerSec']).toBe(256 * KiB);
    const kept = statSync(o.partialPath).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(p.size);
    expect(o.progress.at(-1)?.bytes).toBe(kept); // the kept bytes were reported (and fsynced) for the next run
  });

  it('does not hang on a server that sends headers and some bytes, then stalls', async () => {
    const p = await fx.publish('hang.zfs', randomData(512 * KiB));
    fx.server.faults.hangAfterBytes = 100 * KiB;
    const o = fx.opts(p, { limits: { minBytesPerSec: 64 * KiB, slowWindowSec: 1, deadlineSec: 60, headersTimeoutSec: 5, maxRedirects: 3 } });
    const t0 = Date.now();
    const err = await rejection(downloadStream(o));
    expect(['E_DOWNLOAD_SLOW', 'E_HTTP_TIMEOUT']).toContain(err.code);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(statSync(o.partialPath).size).toBe(100 * KiB);
  });

  it('falls back to the body timeout when the throughput floor is off (minBytesPerSec 0)', async () => {
    const p = await fx.publish('hang2.zfs', randomData(512 * KiB));
    fx.server.faults.hangAfterBytes = 10 * KiB;
    const err = await rejection(downloadStream(fx.opts(p)));
    expect(err.code).toBe('E_HTTP_TIMEOUT');
  });

  it('stops at the overall deadline with E_DOWNLOAD_DEADLINE', async () => {
    const p = await fx.publish('deadline.zfs', randomData(MiB));
    fx.server.faults.dripBytesPerSec = 100 * KiB;
    const o = fx.opts(p, { limits: { minBytesPerSec: 0, slowWindowSec: 1, deadlineSec: 1, headersTimeoutSec: 5, maxRedirects: 3 } });
    const err = await rejection(downloadStream(o));
    expect(err.code).toBe('E_DOWNLOAD_DEADLINE');
    expect(existsSync(o.partialPath)).toBe(true);
  });

  it('honours an injected clock for the deadline (no request once it has passed)', async () => {
    const p = await fx.publish('clock.zfs', randomData(1000));
    let t = 1_000_000;
    const o = fx.opts(p, { now: () => (t += 10_000), limits: { minBytesPerSec: 0, slowWindowSec: 5, deadlineSec: 5, headersTimeoutSec: 5, maxRedirects: 3 } });
    const err = await rejection(downloadStream(o));
    expect(err.code).toBe('E_DOWNLOAD_DEADLINE');
    expect(fx.server.stats.get(p.path)).toBeUndefined();
  });
});

describe('downloadStream never accepts more than the signed size', () => {
  it('aborts a body that runs past the signed size and deletes the partial', async () => {
    const p = await fx.publish('extra.zfs', randomData(300 * KiB));
    fx.server.faults.extraBytes = 1000; // chunked: only counting can catch it
    const o = fx.opts(p);
    const err = await rejection(downloadStream(o));
    expect(err.code).toBe('E_DOWNLOAD_TOO_LARGE');
    expect(existsSync(o.partialPath)).toBe(false);
  });

  it('refuses a Content-Length above the signed size before reading the body', async () => {
    const p = await fx.publish('lie.zfs', randomData(300 * KiB));
    fx.server.faults.lieContentLength = p.size + 1;
    const o = fx.opts(p);
    const err = await rejection(downloadStream(o));
    expect(err.code).toBe('E_DOWNLOAD_TOO_LARGE');
    expect(err.context['why']).toBe(`content-length ${p.size + 1}`);
    expect(existsSync(o.partialPath)).toBe(false);
  });
});

describe('downloadStream integrity', () => {
  it('reports a short body as E_DOWNLOAD_TRUNCATED, keeps it, and a later run resumes to completion', async () => {
    const p = await fx.publish('trunc.zfs', randomData(700 * KiB));
    fx.server.faults.truncateAt = 300 * KiB;
    const o1 = fx.opts(p);
    const err = await rejection(downloadStream(o1));
    expect(err.code).toBe('E_DOWNLOAD_TRUNCATED');
    // the transport may drop body chunks still queued in its stream when the connection errors, so "up to" 300 KiB
    const kept = statSync(o1.partialPath).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(300 * KiB);
    expect(err.context['bytes']).toBe(kept);
    expect(o1.progress.at(-1)?.bytes).toBe(kept);
    delete fx.server.faults.truncateAt;
    const o2 = fx.opts(p, { partialPath: o1.partialPath, saved: savedFrom(o1.progress) });
    const res = await downloadStream(o2);
    expect(res.sha256).toBe(p.sha256);
    expect(fx.server.stats.get(p.path)?.ranges).toEqual(['', `bytes=${kept}-`]);
  });

  it('rejects one flipped bit with E_DOWNLOAD_HASH and deletes the partial', async () => {
    const p = await fx.publish('flip.zfs', randomData(200 * KiB));
    fx.server.faults.replaceBody = (buf) => {
      const copy = Buffer.from(buf);
      copy[12345] = (copy[12345] ?? 0) ^ 0x01;
      return copy;
    };
    const o = fx.opts(p);
    const err = await rejection(downloadStream(o));
    expect(err.code).toBe('E_DOWNLOAD_HASH');
    expect(err.context['expected']).toBe(p.sha256);
    expect(existsSync(o.partialPath)).toBe(false);
  });

  it('restarts from 0 when the file was replaced between runs (If-Range no longer matches)', async () => {
    const data = randomData(600 * KiB);
    const p = await fx.publish('replaced.zfs', data);
    fx.server.faults.truncateAt = 200 * KiB;
    const o1 = fx.opts(p);
    expect((await rejection(downloadStream(o1))).code).toBe('E_DOWNLOAD_TRUNCATED');
    delete fx.server.faults.truncateAt;
    await fx.publish('replaced.zfs', data); // same bytes, new inode: new ETag
    const kept = statSync(o1.partialPath).size;
    expect(kept).toBeGreaterThan(0);
    const o2 = fx.opts(p, { partialPath: o1.partialPath, saved: savedFrom(o1.progress) });
    const res = await downloadStream(o2);
    expect(res.sha256).toBe(p.sha256);
    const st = fx.server.stats.get(p.path);
    expect(st?.ranges).toEqual(['', `bytes=${kept}-`]);
    expect(st?.bytesSent).toBe(200 * KiB + p.size); // the whole file again, not a splice
    expect(o2.progress[0]?.bytes).toBe(0);
    expect(o2.progress[0]?.validator).not.toBe(o1.progress[0]?.validator);
  });

  it('fails with E_DOWNLOAD_HASH when the replaced file differs from what was signed', async () => {
    const p = await fx.publish('replaced2.zfs', randomData(400 * KiB));
    fx.server.faults.truncateAt = 100 * KiB;
    const o1 = fx.opts(p);
    expect((await rejection(downloadStream(o1))).code).toBe('E_DOWNLOAD_TRUNCATED');
    delete fx.server.faults.truncateAt;
    await fx.publish('replaced2.zfs', randomData(400 * KiB));
    const o2 = fx.opts(p, { partialPath: o1.partialPath, saved: savedFrom(o1.progress) });
    const err = await rejection(downloadStream(o2));
    expect(err.code).toBe('E_DOWNLOAD_HASH');
    expect(existsSync(o1.partialPath)).toBe(false);
  });

  it('retries once from zero when a resumed prefix turns out stale (garbage after a power cut)', async () => {
    const p = await fx.publish('stale.zfs', randomData(500 * KiB));
    fx.server.faults.truncateAt = 250 * KiB;
    const o1 = fx.opts(p);
    expect((await rejection(downloadStream(o1))).code).toBe('E_DOWNLOAD_TRUNCATED');
    delete fx.server.faults.truncateAt;
    const onDisk = readFileSync(o1.partialPath);
    expect(onDisk.length).toBeGreaterThan(101 * KiB);
    onDisk.fill(0, 100 * KiB, 101 * KiB); // what a lost page looks like
    writeFileSync(o1.partialPath, onDisk);
    const o2 = fx.opts(p, { partialPath: o1.partialPath, saved: savedFrom(o1.progress) });
    const res = await downloadStream(o2);
    expect(res.sha256).toBe(p.sha256);
    expect(fx.server.stats.get(p.path)?.ranges).toEqual(['', `bytes=${onDisk.length}-`, '']);
    expect(readFileSync(o1.partialPath).equals(p.data)).toBe(true);
  });

  it('does not loop: a second hash failure after the retry from zero is final', async () => {
    const p = await fx.publish('stale2.zfs', randomData(300 * KiB));
    const partialPath = fx.partial();
    writeFileSync(partialPath, Buffer.alloc(100 * KiB)); // zeros: wrong prefix
    const o0 = fx.opts(p);
    await downloadStream(o0);
    fx.server.faults.replaceBody = (buf) => Buffer.concat([buf.subarray(0, buf.length - 1), Buffer.from([buf[buf.length - 1]! ^ 1])]);
    const o = fx.opts(p, { partialPath, saved: savedFrom(o0.progress) });
    const err = await rejection(downloadStream(o));
    expect(err.code).toBe('E_DOWNLOAD_HASH');
    expect(fx.server.stats.get(p.path)?.ranges).toEqual(['', `bytes=${100 * KiB}-`, '']);
    expect(existsSync(partialPath)).toBe(false);
  });

  it('moves on from a mirror that sends too many bytes to one that sends the signed stream', async () => {
    const p = await fx.publish('liar-then-good.zfs', randomData(100 * KiB));
    const good = await fx.mirror();
    fx.server.faults.extraBytes = 10;
    const o = fx.opts(p, { urls: [`${fx.server.url}${p.path}`, `${good.url}${p.path}`] });
    const res = await downloadStream(o);
    expect(res.url).toBe(`${good.url}${p.path}`);
    expect(readFileSync(o.partialPath).equals(p.data)).toBe(true);
  });

  it('refuses up front a file shorter than signed (Content-Length below size)', async () => {
    const p = await fx.publish('short.zfs', randomData(10 * KiB));
    const o = fx.opts({ ...p, size: p.size + 1 });
    const err = await rejection(downloadStream(o));
    expect(err.code).toBe('E_DOWNLOAD_TRUNCATED');
    expect(statSync(o.partialPath).size).toBe(0);
  });
});
