// How a long step reports progress to whoever shows it (the CLI's TTY line): an injected sink, never a global.

export interface ProgressSink {
  /** What is happening now (a phase, or a phase and its latest event). */
  phase(label: string): void;
  /** Download progress: bytes on disk so far of `total` (called per chunk; the sink throttles). */
  bytes(done: number, total: number): void;
}
