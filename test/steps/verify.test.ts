// openVerified: one descriptor, size then sha256, offset left at 0, and immune to a rename over the path.
import { createHash } from 'node:crypto';
import { mkdtempSync, readSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerifyError } from '../../src/errors.js';
import { openVerified } from '../../src/steps/verify.js';
import { pseudoRandom } from '../support/zfs-pool.js';

let dir: string;
const data = pseudoRandom('verify', 3 * 1024 * 1024 + 17);
const signed = { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'verify-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function readAll(fd: number): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null); // null: from the current offset, as a child process would
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

describe('openVerified', () => {
  it('returns an fd at offset 0 whose bytes are the signed ones', async () => {
    const p = join(dir, 'good');
    writeFileSync(p, data);
    const v = await openVerified(p, signed);
    try {
      expect(v.size).toBe(signed.size);
      expect(readAll(v.fd).equals(data)).toBe(true);
    } finally {
      await v.close();
    }
    await v.close(); // idempotent
  });

  it('one flipped bit → E_VERIFY_HASH', async () => {
    const p = join(dir, 'flipped');
    const bad = Buffer.from(data);
    bad[123_456] = (bad[123_456] ?? 0) ^ 0x01;
    writeFileSync(p, bad);
    await expect(openVerified(p, signed)).rejects.toMatchObject({ code: 'E_VERIFY_HASH' });
  });

  it('truncated file → E_VERIFY_SIZE (and longer too)', async () => {
    const p = join(dir, 'short');
    writeFileSync(p, data);
    truncateSync(p, data.length - 1);
    const err = await openVerified(p, signed).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerifyError);
    expect((err as VerifyError).code).toBe('E_VERIFY_SIZE');
    writeFileSync(p, Buffer.concat([data, Buffer.from('x')]));
    await expect(openVerified(p, signed)).rejects.toMatchObject({ code: 'E_VERIFY_SIZE' });
  });

  it('accepts an upper-case expected sha256', async () => {
    const p = join(dir, 'upper');
    writeFileSync(p, data);
    const v = await openVerified(p, { size: signed.size, sha256: signed.sha256.toUpperCase() });
    await v.close();
  });

  it('a file renamed over the path after verification does not reach the holder of the fd', async () => {
    const p = join(dir, 'swapped');
    writeFileSync(p, data);
    const v = await openVerified(p, signed);
    try {
      const evil = join(dir, 'evil');
      writeFileSync(evil, pseudoRandom('evil', data.length));
      renameSync(evil, p);
      expect(createHash('sha256').update(readAll(v.fd)).digest('hex')).toBe(signed.sha256);
    } finally {
      await v.close();
    }
  });

  it('a missing file rejects with the fs error', async () => {
    await expect(openVerified(join(dir, 'missing'), signed)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
