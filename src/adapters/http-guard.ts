// HTTP watchdog: overall deadline and a sliding-window throughput floor, so a dripping or hung server cannot stall us.
import { DownloadError, type ErrorCode } from '../errors.js';

interface Sample {
  t: number;
  bytes: number;
}

/**
 * Throughput over the last `windowMs`: slow when fewer than minBytesPerSec arrived on average.
 * Judged only once a whole window has passed since the response started (TLS + first bytes need a moment).
 */
export class ThroughputWindow {
  private samples: Sample[] = [];
  private startedAt: number | null = null;
  private total = 0;

  constructor(
    private readonly minBytesPerSec: number,
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  start(): void {
    this.startedAt = this.now();
    this.total = 0;
    this.samples = [{ t: this.startedAt, bytes: 0 }];
  }

  add(n: number): void {
    this.total += n;
    this.sample();
  }

  private sample(): void {
    const t = this.now();
    this.samples.push({ t, bytes: this.total });
    // Keep exactly one sample at or before the window's start: it is the baseline.
    while (this.samples.length > 2 && (this.samples[1] as Sample).t <= t - this.windowMs) this.samples.shift();
  }

  /** Bytes/s over (at least) the last window, or null while the first window is still filling. */
  rate(): number | null {
    if (this.startedAt === null || this.minBytesPerSec <= 0) return null;
    this.sample();
    const t = this.now();
    if (t - this.startedAt < this.windowMs) return null;
    const base = this.samples[0] as Sample;
    return ((this.total - base.bytes) * 1000) / Math.max(1, t - base.t);
  }

  tooSlow(): boolean {
    const r = this.rate();
    return r !== null && r < this.minBytesPerSec;
  }
}

export interface Watchdog {
  stop(): void;
}

/**
 * Polls the deadline and the throughput window; on a trip it hands the error to `trip` exactly once
 * (the caller aborts the request with it, which also unblocks a body read that is waiting forever).
 */
export function startWatchdog(opts: {
  url: string;
  deadlineAt: number;
  window: ThroughputWindow;
  minBytesPerSec: number;
  windowSec: number;
  now: () => number;
  tickMs: number;
  trip: (err: DownloadError) => void;
  /** Codes of the two trips: streams say E_DOWNLOAD_*, small documents E_HTTP_*. */
  codes?: { deadline: ErrorCode; slow: ErrorCode };
}): Watchdog {
  const codes = opts.codes ?? { deadline: 'E_DOWNLOAD_DEADLINE', slow: 'E_DOWNLOAD_SLOW' };
  let done = false;
  const timer = setInterval(() => {
    if (done) return;
    const t = opts.now();
    let err: DownloadError | null = null;
    if (t >= opts.deadlineAt) {
      err = new DownloadError(codes.deadline, `${opts.url}: deadline passed`, {
        context: { url: opts.url, deadlineAt: new Date(opts.deadlineAt).toISOString() },
      });
    } else if (opts.window.tooSlow()) {
      const rate = Math.round(opts.window.rate() ?? 0);
      err = new DownloadError(codes.slow, `${opts.url}: ${rate} B/s over ${opts.windowSec}s, minimum is ${opts.minBytesPerSec} B/s`, {
        context: { url: opts.url, bytesPerSec: rate, minBytesPerSec: opts.minBytesPerSec, windowSec: opts.windowSec },
      });
    }
    if (err) {
      done = true;
      clearInterval(timer);
      opts.trip(err);
    }
  }, opts.tickMs);
  timer.unref();
  return {
    stop() {
      done = true;
      clearInterval(timer);
    },
  };
}
