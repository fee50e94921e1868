// Token bucket for download.maxBytesPerSec: the body loop takes bytes from it and waits while it is in debt.
import { setTimeout as delay } from 'node:timers/promises';

export interface TokenBucketOptions {
  /** Bytes per second; 0 or less: no cap (take() never waits). */
  bytesPerSec: number;
  /** Most bytes saved up while idle (default: one second's worth), so a pause is not followed by a long burst. */
  burstBytes?: number;
  now?: () => number;
  /** Waits `ms`; rejects with the signal's reason when it aborts (a watchdog trip must not wait out the debt). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const realSleep = (ms: number, signal?: AbortSignal): Promise<void> => delay(ms, undefined, signal ? { signal } : {}).catch((err: unknown) => {
  throw signal?.aborted ? signal.reason : err;
});

/**
 * Starts empty, not full: over any interval of T seconds from its creation at most `bytesPerSec × T` bytes get
 * through, so a download resumed after a cut (a new bucket) cannot burst past the cap either. A chunk larger than
 * the balance is let through and paid for afterwards (debt), so any chunk size works.
 */
export class TokenBucket {
  private tokens = 0;
  private last: number;
  private readonly rate: number;
  private readonly burst: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(opts: TokenBucketOptions) {
    this.rate = opts.bytesPerSec;
    this.burst = opts.burstBytes ?? Math.max(1, opts.bytesPerSec);
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? realSleep;
    this.last = this.now();
  }

  get capped(): boolean {
    return this.rate > 0;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
  }

  /** Takes `n` bytes; resolves once the bucket is out of debt (at once when uncapped). Rejects with `signal`'s reason. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    if (!this.capped) return;
    this.refill();
    this.tokens -= n;
    // Re-read the clock after every sleep: a timer may fire a little early, and the cap must hold regardless.
    while (this.tokens < 0) {
      if (signal?.aborted) throw signal.reason;
      await this.sleep(Math.max(1, Math.ceil((-this.tokens * 1000) / this.rate)), signal);
      this.refill();
    }
  }
}
