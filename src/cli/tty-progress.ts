// The CLI's progress line on a terminal: one carriage-return line on stderr; nothing at all when stderr is not a TTY.
import type { Store, StoreChange } from '../state/store.js';
import type { ProgressDisplay } from '../util/progress.js';
import { downloadLine, RateMeter } from './progress-format.js';

/** The part of a tty.WriteStream the line needs (a fake in tests). */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

/** Byte updates are drawn at most this often; phase changes and the last byte always. */
const REDRAW_MS = 100;

export class TtyProgress implements ProgressDisplay {
  private drawn = false;
  private lastDraw = 0;
  /** The deployment's phase as last seen in the store: the download line's label. */
  private stage = '';
  private readonly meter = new RateMeter();

  constructor(private readonly out: ProgressStream, private readonly now: () => number = Date.now) {}

  phase(label: string): void {
    this.draw(label);
  }

  bytes(done: number, total: number): void {
    const t = this.now();
    this.meter.add(t, done);
    if (done < total && this.drawn && t - this.lastDraw < REDRAW_MS) return;
    this.draw(downloadLine(this.stage || 'downloading', done, total, this.meter.rate()));
  }

  /** Shows the store's phase transitions and journal events (`phase: event`) while subscribed; returns the unsubscribe. */
  follow(store: Store): () => void {
    return store.subscribe((c: StoreChange) => {
      if (c.kind === 'created') this.phase((this.stage = 'pending'));
      else if (c.kind === 'phase') this.phase((this.stage = c.to));
      else if (c.kind === 'journal') this.phase(this.stage ? `${this.stage}: ${c.event}` : c.event);
    });
  }

  /** Ends the line so what is printed next starts on its own. */
  end(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  private draw(line: string): void {
    // a pty nobody sized (script(1), a serial console) says 0 columns
    const width = Math.max(20, (this.out.columns || 80) - 1);
    this.out.write(`\r${line.length > width ? line.slice(0, width) : line}\x1b[K`);
    this.drawn = true;
    this.lastDraw = this.now();
  }
}

/** A progress line on `out` when it is a terminal; null otherwise (piped output stays plain lines: nothing is added). */
export function ttyProgress(out: ProgressStream): TtyProgress | null {
  return out.isTTY === true ? new TtyProgress(out) : null;
}
