// Copying a stream out of a bundle: resume after a checkpoint, a stale prefix redone from 0, bad bytes, a shrunk file.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { copyFromBundle, type BundleCopyOptions } from '../../src/steps/prefetch-bundle.js';
import { silentLogger } from '../../src/log.js';
import { UpgradeError } from '../../src/errors.js';

let dir: string;
const stream = Buffer.alloc(3 * 1024 * 1024 + 123);
for (let i = 0; i < stream.length; i++) stream[i] = (i * 7919) & 0xff;
const sha = createHash('sha256').update(stream).digest('hex');
const OFFSET = 1536;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ua-bcopy-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function setup(name: string, body = stream): { opts: BundleCopyOptions; progress: number[] } {
  const bundlePath = join(dir, `${name}.bundle`);
  writeFileSync(bundlePath, Buffer.concat([Buffer.alloc(OFFSET, 1), body, Buffer.alloc(1024)]));
  const progress: number[] = [];
  return {
    progress,
    opts: {
      bundlePath, entry: { name: 'streams/x', offset: OFFSET, size: stream.length }, size: stream.length, sha256: sha,
      partialPath: join(dir, `${name}.part`), onProgress: (b) => progress.push(b), checkpointBytes: 1 << 20,
      maxBytesPerSec: 0, now: Date.now, log: silentLogger(),
    },
  };
}

const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: unknown) => (e instanceof UpgradeError ? e.code : String(e)));

describe('copyFromBundle', () => {
  it('copies, checkpointing every MiB, and the file is the stream', async () => {
    const { opts, progress } = setup('plain');
    expect(await copyFromBundle(opts)).toEqual({ bytes: stream.length, sha256: sha });
    expect(readFileSync(opts.partialPath).equals(stream)).toBe(true);
    expect(progress).toEqual([0, 1 << 20, 2 << 20, 3 << 20, stream.length]);
  });

  it('resumes after the bytes on disk, and redoes a prefix that is not the stream once from byte 0', async () => {
    const { opts, progress } = setup('resume');
    writeFileSync(opts.partialPath, stream.subarray(0, 2 << 20));
    await copyFromBundle(opts);
    expect(progress[0]).toBe(2 << 20);
    expect(readFileSync(opts.partialPath).equals(stream)).toBe(true);
    const stale = setup('stale');
    writeFileSync(stale.opts.partialPath, Buffer.alloc(2 << 20, 9));
    expect(await copyFromBundle(stale.opts)).toEqual({ bytes: stream.length, sha256: sha });
    expect(stale.progress.filter((b) => b === 0)).toHaveLength(1);
    expect(readFileSync(stale.opts.partialPath).equals(stream)).toBe(true);
  });

  it('bad bytes: E_BUNDLE_STREAM_HASH and the partial file goes; a bundle that shrank: E_BUNDLE_TRUNCATED, the prefix kept', async () => {
    const bad = Buffer.from(stream);
    bad[100] = bad[100]! ^ 1;
    const { opts } = setup('bad', bad);
    expect(await codeOf(copyFromBundle(opts))).toBe('E_BUNDLE_STREAM_HASH');
    expect(existsSync(opts.partialPath)).toBe(false);
    const cut = setup('cut');
    truncateSync(cut.opts.bundlePath, OFFSET + (2 << 20) + 5);
    expect(await codeOf(copyFromBundle(cut.opts))).toBe('E_BUNDLE_TRUNCATED');
    expect(readFileSync(cut.opts.partialPath).length).toBe((2 << 20) + 5);
    expect(await codeOf(copyFromBundle({ ...cut.opts, bundlePath: join(dir, 'gone.bundle') }))).toBe('E_BUNDLE_UNREADABLE');
  });
});
