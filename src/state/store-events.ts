// What the Store tells its subscribers after each committed write (the metrics textfile, a CLI's progress line).
import type { Phase } from '../core/phases.js';
import type { JournalEvent } from './journal-events.js';

export type StoreChange =
  | { kind: 'created'; id: number }
  | { kind: 'phase'; id: number; from: Phase; to: Phase; event: JournalEvent }
  | { kind: 'update'; id: number }
  | { kind: 'journal'; id: number | null; event: JournalEvent }
  | { kind: 'committed-version'; version: number };

export type StoreListener = (change: StoreChange) => void;

/** Subscribers, told after the write's transaction committed; a listener's error never fails a write already made. */
export class StoreListeners {
  private readonly listeners = new Set<StoreListener>();

  add(fn: StoreListener): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  emit(change: StoreChange): void {
    for (const fn of this.listeners) {
      try {
        fn(change);
      } catch {
        // the state is already durable; an observer's failure (a full metrics disk, a closed tty) is its own to report
      }
    }
  }
}
