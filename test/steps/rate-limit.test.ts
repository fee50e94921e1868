// TokenBucket on a fake clock: starts empty, holds the rate over any chunk sizes, caps saved-up bytes, aborts.
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/steps/rate-limit.js';

/** A clock that only moves when the bucket sleeps; `slept` records each wait. */
function fakeClock(): { now: () => number; sleep: (ms: number) => Promise<void>; advance: (ms: number) => void; slept: number[] } {
  let t = 1_000_000;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
    advance: (ms) => {
      t += ms;
    },
    slept,
  };
}

describe('TokenBucket', () => {
  it('never waits without a cap', async () => {
    const c = fakeClock();
    const b = new TokenBucket({ bytesPerSec: 0, now: c.now, sleep: c.sleep });
    for (let i = 0; i < 100; i++) await b.take(1 << 20);
    expect(b.capped).toBe(false);
    expect(c.slept).toEqual([]);
  });

  it('starts empty: N bytes take at least N / rate seconds, whatever the chunk sizes', async () => {
    for (const chunk of [7, 1000, 65_536, 300_000]) {
      const c = fakeClock();
      const t0 = c.now();
      const b = new TokenBucket({ bytesPerSec: 100_000, now: c.now, sleep: c.sleep });
      let sent = 0;
      while (sent < 200_000) {
        const n = Math.min(chunk, 200_000 - sent);
        await b.take(n);
        sent += n;
        // after each take, the bytes let through never exceed rate × elapsed
        expect(sent, `chunk ${chunk}`).toBeLessThanOrEqual(((c.now() - t0) * 100_000) / 1000 + 1e-6);
      }
      expect(c.now() - t0, `chunk ${chunk}`).toBeGreaterThanOrEqual(2000);
      expect(c.now() - t0, `chunk ${chunk}`).toBeLessThanOrEqual(2000 + 2 * c.slept.length);
    }
  });

  it('saves up at most the burst while idle', async () => {
    const c = fakeClock();
    const b = new TokenBucket({ bytesPerSec: 1000, burstBytes: 500, now: c.now, sleep: c.sleep });
    c.advance(60_000); // a minute idle earns 500 bytes, not 60 000
    await b.take(500);
    expect(c.slept).toEqual([]);
    await b.take(1000);
    expect(c.slept.reduce((a, x) => a + x, 0)).toBe(1000);
  });

  it('gives up a wait with the signal’s reason', async () => {
    const ac = new AbortController();
    const b = new TokenBucket({ bytesPerSec: 10 });
    const p = b.take(1000, ac.signal); // 100 s of debt on the real clock
    ac.abort(new Error('watchdog'));
    await expect(p).rejects.toThrow('watchdog');
  });
});
