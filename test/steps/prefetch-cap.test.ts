// download.maxBytesPerSec over real HTTPS: a capped download of N bytes takes at least N / cap, also across a cut and resume.
import { statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadStream } from '../../src/steps/prefetch.js';
import { randomData, rejection, savedFrom, setupFixture, type Fixture } from '../support/prefetch-fixture.js';

const KiB = 1024;
const N = 192 * KiB;
const CAP = 128 * KiB; // N / CAP = 1.5 s
let fx: Fixture;

beforeAll(async () => {
  fx = await setupFixture();
});
afterAll(async () => {
  await fx?.close();
});

const limits = (maxBytesPerSec: number) => ({ minBytesPerSec: 0, slowWindowSec: 5, deadlineSec: 60, headersTimeoutSec: 5, maxRedirects: 3, maxBytesPerSec });
const secondsOf = async <T>(p: () => Promise<T>): Promise<{ sec: number; value: T }> => {
  const t0 = performance.now();
  const value = await p();
  return { sec: (performance.now() - t0) / 1000, value };
};

describe('download.maxBytesPerSec', () => {
  it('holds a download of N bytes to at least N / cap seconds; uncapped, the same stream is much faster', async () => {
    const p = await fx.publish('cap/plain.zfs', randomData(N));
    const free = await secondsOf(() => downloadStream(fx.opts(p, { limits: limits(0) })));
    expect(free.value.sha256).toBe(p.sha256);
    expect(free.sec).toBeLessThan(N / CAP / 2); // the server alone would not make the capped run slow

    const seen: number[] = [];
    const capped = await secondsOf(() => downloadStream(fx.opts(p, { limits: limits(CAP), onBytes: (b) => seen.push(b) })));
    expect(capped.value.sha256).toBe(p.sha256);
    expect(capped.sec).toBeGreaterThanOrEqual(N / CAP);
    expect(capped.sec).toBeLessThan(N / CAP + 1.5);
    // onBytes saw the stream grow to its size, in order
    expect(seen.at(-1)).toBe(N);
    expect(seen.every((b, i) => i === 0 || b >= (seen[i - 1] as number))).toBe(true);
  });

  it('still holds after a cut: the resumed part takes at least its bytes / cap, the whole at least N / cap', async () => {
    const p = await fx.publish('cap/resume.zfs', randomData(N));
    fx.server.faults.truncateAt = N / 2;
    const o1 = fx.opts(p, { limits: limits(CAP) });
    const first = await secondsOf(() => rejection(downloadStream(o1)));
    delete fx.server.faults.truncateAt;
    expect(first.value.code).toBe('E_DOWNLOAD_TRUNCATED');
    const kept = statSync(o1.partialPath).size;
    expect(kept).toBeGreaterThan(0);
    expect(first.sec).toBeGreaterThanOrEqual(kept / CAP);

    const o2 = fx.opts(p, { partialPath: o1.partialPath, saved: savedFrom(o1.progress), limits: limits(CAP) });
    const second = await secondsOf(() => downloadStream(o2));
    expect(second.value.sha256).toBe(p.sha256);
    expect(fx.server.stats.get(p.path)?.ranges).toEqual(['', `bytes=${kept}-`]);
    expect(second.sec).toBeGreaterThanOrEqual((N - kept) / CAP);
    expect(first.sec + second.sec).toBeGreaterThanOrEqual(N / CAP);
  });
});
