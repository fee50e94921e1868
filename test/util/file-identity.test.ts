// File identity: any change to the file (even with its mtime put back) is seen.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, chmodSync, utimesSync, statSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileIdentity, sameIdentity } from '../../src/util/file-identity.js';

const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

describe('file identity', () => {
  it('is the same while nothing touches the file', () => {
    const p = join(mkdtempSync(join(tmpdir(), 'ua-fid-')), 'f');
    writeFileSync(p, 'data');
    expect(sameIdentity(fileIdentity(p), p)).toBe(true);
  });

  it('changes on a rewrite with the mtime restored, on chmod, and on replacement', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ua-fid-'));
    const p = join(dir, 'f');
    writeFileSync(p, 'data');
    const before = fileIdentity(p);
    const { atime, mtime } = statSync(p);
    await pause();
    writeFileSync(p, 'dat4');
    utimesSync(p, atime, mtime);
    expect(sameIdentity(before, p)).toBe(false);
    const again = fileIdentity(p);
    await pause();
    chmodSync(p, 0o600);
    expect(sameIdentity(again, p)).toBe(false);
    const third = fileIdentity(p);
    writeFileSync(join(dir, 'g'), 'dat4');
    renameSync(join(dir, 'g'), p);
    expect(sameIdentity(third, p)).toBe(false);
    expect(sameIdentity(third, join(dir, 'missing'))).toBe(false);
  });
});
