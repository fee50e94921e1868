// The TTY progress line: carriage-return redraws on a terminal, throttled; nothing at all on a pipe.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TtyProgress, ttyProgress, type ProgressStream } from '../../src/cli/tty-progress.js';
import { openStateDb } from '../../src/state/db.js';
import { Store } from '../../src/state/store.js';

const newDep = { version: 2, label: 'v2', manifestUrl: 'https://x/m', envelope: Buffer.from('{}'), payloadSha256: 'a'.repeat(64), imageSize: 10, imageSha256: 'b'.repeat(64) };

function fakeTty(isTTY: boolean): ProgressStream & { text: string } {
  const s = { isTTY, columns: 100, text: '', write: (x: string) => (s.text += x) };
  return s;
}

describe('ttyProgress', () => {
  it('is null when the stream is not a terminal, so nothing extra is written', () => {
    expect(ttyProgress(fakeTty(false))).toBeNull();
    expect(ttyProgress({ write: () => true })).toBeNull();
    expect(ttyProgress(fakeTty(true))).toBeInstanceOf(TtyProgress);
  });

  it('redraws one carriage-return line with bytes, rate and ETA, at most every 100 ms but always the last byte', () => {
    const out = fakeTty(true);
    let t = 0;
    const p = new TtyProgress(out, () => t);
    p.phase('downloading');
    for (let i = 1; i <= 100; i++) {
      t += 10; // 100 chunks over 1 s
      p.bytes(i * 1024, 100 * 1024);
    }
    p.end();
    const draws = out.text.split('\r').filter(Boolean);
    expect(draws.length).toBeGreaterThanOrEqual(10);
    expect(draws.length).toBeLessThanOrEqual(13);
    expect(draws.every((d) => d.includes('\x1b[K'))).toBe(true);
    expect(draws.at(-1)).toBe('downloading 100.0 KiB / 100.0 KiB  100%  100.0 KiB/s  ETA 0:00\x1b[K\n');
  });

  it('follows the store: each phase, then phase: event', () => {
    const out = fakeTty(true);
    let t = 0;
    const p = new TtyProgress(out, () => t);
    const store = new Store(openStateDb(join(mkdtempSync(join(tmpdir(), 'ua-tty-')), 'state')));
    const stop = p.follow(store);
    const d = store.create(newDep);
    store.transition(d.id, 'downloading');
    store.journal('stream-selected', d.id);
    t += 200;
    p.bytes(512, 1024); // the download line is labelled by the phase, not by the latest event
    stop();
    store.transition(d.id, 'failed');
    expect(out.text.split('\r').filter(Boolean).map((x) => x.replace('\x1b[K', ''))).toEqual([
      'pending', 'downloading', 'downloading: stream-selected', expect.stringMatching(/^downloading 512 B \/ 1\.0 KiB {2}50% /),
    ]);
  });

  it('cuts a line to the terminal width', () => {
    const out = fakeTty(true);
    out.columns = 30;
    new TtyProgress(out).phase('x'.repeat(100));
    expect(out.text).toBe(`\r${'x'.repeat(29)}\x1b[K`);
  });
});
