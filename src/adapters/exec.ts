// execa, imported at first use: an idle daemon starts no process, and execa's ~130 modules cost it about 7 MiB of RSS.
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { execa as Execa } from 'execa';
import type { SendStream } from './zfs.js';

export type { Execa };

let loaded: typeof Execa | null = null;
let loading: Promise<typeof Execa> | null = null;

/** execa itself, once imported (the first call imports it; later ones answer from the cache). */
export function loadExeca(): Promise<typeof Execa> {
  loading ??= import('execa').then((m) => (loaded = m.execa));
  return loading;
}

/** execa if it was imported already, else null: for a caller that must spawn in the current tick (see ZfsCli.recv). */
export function execaIfLoaded(): typeof Execa | null {
  return loaded;
}

/**
 * recv's fallback when execa was not imported yet: takes the pipe handed in now, in this tick (a child's stdout left
 * unread when the child exits is drained and lost), holds it with backpressure, and copies it into the child's stdin
 * once that exists. The promise ends when the pipe ended or the child closed its stdin (its exit says why).
 */
export function holdPipe(from: Readable): (to: Writable) => Promise<void> {
  const held = new PassThrough();
  const ended = new Promise<void>((resolve, reject) => {
    from.on('error', reject);
    held.on('end', () => resolve());
  });
  ended.catch(() => undefined);
  from.pipe(held);
  return (to) => {
    held.pipe(to, { end: false });
    return new Promise<void>((resolve, reject) => {
      ended.then(resolve, reject);
      to.on('close', () => resolve());
    }).finally(() => from.destroy());
  };
}

/**
 * `send` before execa was imported: the stream is handed over at once and the command starts once execa is in
 * (the publisher's first zfs call usually imported it already).
 */
export function sendOnceLoaded(start: () => SendStream): SendStream {
  const out = new PassThrough();
  let inner: SendStream | null = null;
  let killed = false;
  const done = loadExeca().then(() => {
    inner = start();
    if (killed) inner.kill();
    inner.stdout.on('error', (err) => out.destroy(err));
    inner.stdout.pipe(out);
    return inner.done;
  });
  return { stdout: out, done, kill: () => void (killed = true, inner?.kill()) };
}
