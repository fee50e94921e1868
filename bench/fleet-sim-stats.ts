// The fleet simulation's pure parts: its phase schedule in compressed time, a timer heap, percentiles, CPU share.

/** One phase of the simulated day: its name, what the driver does when it begins, and its length in simulated seconds. */
export interface Phase {
  name: 'steady' | 'release-10%' | 'release-100%' | 'outage' | 'herd';
  action: 'none' | 'start-rollout' | 'widen-rollout' | 'stop-server' | 'start-server';
  simSec: number;
}

/**
 * The simulated day's phases. One check-in period (interval + the agent's full jitter) is what it takes every device
 * to call in once: steady state and the widened release last one, the 10% release half an interval, the outage one
 * (so every device fails at least once and backs off), the herd one and a half (the agent's backoff reaches 3840 s
 * after an hour of failures, plus jitter). Pure.
 */
export function phasePlan(intervalSec: number, jitterSec: number): Phase[] {
  const period = intervalSec + jitterSec;
  return [
    { name: 'steady', action: 'none', simSec: period },
    { name: 'release-10%', action: 'start-rollout', simSec: intervalSec / 2 },
    { name: 'release-100%', action: 'widen-rollout', simSec: period },
    { name: 'outage', action: 'stop-server', simSec: period },
    { name: 'herd', action: 'start-server', simSec: period * 1.5 },
  ];
}

/** Wall-clock seconds of a simulated span at `speedup` simulated seconds per wall second. Pure. */
export const wallSec = (simSec: number, speedup: number): number => simSec / speedup;

/** Nearest-rank percentile (p in 0..100) of an ascending array; NaN for an empty one. Pure. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile: p must be within 0..100, got ${p}`);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

/** CPU time as a share of one core, in percent: Δticks of utime+stime over Δwall seconds. Pure. */
export function cpuPercent(ticks: number, clkTck: number, seconds: number): number {
  return seconds > 0 ? (100 * ticks) / clkTck / seconds : 0;
}

/** A binary min-heap of (at, id) pairs in typed arrays: 80,000 pending check-ins without 80,000 timers. */
export class TimerHeap {
  private at: Float64Array;
  private ids: Int32Array;
  private n = 0;

  constructor(capacity: number) {
    this.at = new Float64Array(Math.max(1, capacity));
    this.ids = new Int32Array(Math.max(1, capacity));
  }

  get size(): number {
    return this.n;
  }

  /** The earliest time, or Infinity when empty. */
  peekAt(): number {
    return this.n === 0 ? Infinity : (this.at[0] as number);
  }

  push(at: number, id: number): void {
    if (this.n === this.at.length) this.grow();
    let i = this.n++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.at[parent] as number) <= at) break;
      this.at[i] = this.at[parent] as number;
      this.ids[i] = this.ids[parent] as number;
      i = parent;
    }
    this.at[i] = at;
    this.ids[i] = id;
  }

  /** Removes and returns the id of the earliest entry; -1 when empty. */
  pop(): number {
    if (this.n === 0) return -1;
    const top = this.ids[0] as number;
    const lastAt = this.at[--this.n] as number;
    const lastId = this.ids[this.n] as number;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.n) break;
      const r = l + 1;
      const c = r < this.n && (this.at[r] as number) < (this.at[l] as number) ? r : l;
      if ((this.at[c] as number) >= lastAt) break;
      this.at[i] = this.at[c] as number;
      this.ids[i] = this.ids[c] as number;
      i = c;
    }
    this.at[i] = lastAt;
    this.ids[i] = lastId;
    return top;
  }

  private grow(): void {
    const at = new Float64Array(this.at.length * 2);
    const ids = new Int32Array(this.ids.length * 2);
    at.set(this.at);
    ids.set(this.ids);
    this.at = at;
    this.ids = ids;
  }
}
