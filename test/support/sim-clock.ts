// A simulated clock for soak tests: it jumps to the next timer while the daemon is idle, and runs fast while it works.
import { performance } from 'node:perf_hooks';
import type { Timers } from '../../src/daemon/daemon.js';

/**
 * `now()` advances `rate` simulated ms per real ms (so a server dripping in real time meets a simulated deadline), and
 * `jumpTo` skips idle stretches at once. Timers are the daemon's only: they fire from `fireDue`, in due order.
 */
export class SimClock implements Timers {
  private base: number;
  private mark = performance.now();
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start: number, private readonly rate: number) {
    this.base = start;
  }

  now = (): number => Math.floor(this.base + (performance.now() - this.mark) * this.rate);

  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now() + ms, fn });
    return id;
  };

  clearTimeout = (handle: unknown): void => {
    this.timers.delete(handle as number);
  };

  nextAt(): number | null {
    let next: number | null = null;
    for (const t of this.timers.values()) if (next === null || t.at < next) next = t.at;
    return next;
  }

  fireDue(): void {
    const t = this.now();
    const due = [...this.timers.entries()].filter(([, x]) => x.at <= t).sort((a, b) => a[1].at - b[1].at);
    for (const [id, x] of due) {
      this.timers.delete(id);
      x.fn();
    }
  }

  jumpTo(t: number): void {
    if (t <= this.now()) return;
    this.base = t;
    this.mark = performance.now();
  }
}
