// How a long step reports progress to whoever shows it (the CLI's TTY line): an injected sink, never a global.

import type { Store } from '../state/store.js';

export interface ProgressSink {
  /** What is happening now (a phase, or a phase and its latest event). */
  phase(label: string): void;
  /** Download progress: bytes on disk so far of `total` (called per chunk; the sink throttles). */
  bytes(done: number, total: number): void;
}

/** A sink with a display's lifetime (the CLI's TTY line): it follows the store's changes and ends its line. */
export interface ProgressDisplay extends ProgressSink {
  /** Shows the store's phase transitions and journal events while subscribed; returns the unsubscribe. */
  follow(store: Store): () => void;
  /** Ends the line so what is printed next starts on its own. */
  end(): void;
}
