// Error classes: the sets derived from ERROR_CODES have exactly the members the hand-written lists had.
import { describe, it, expect } from 'vitest';
import { DELETE_PARTIAL_CODES, ERROR_CODES, errorClass, MIRROR_FAILURE_CODES, TRANSIENT_CODES, type ErrorCode } from '../src/errors.js';

const sorted = (s: Iterable<string>): string[] => [...s].sort();
const withExit = (exit: 'usage' | 'deferred'): string[] => sorted((Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => errorClass(c).exit === exit));

describe('ERROR_CODES classes', () => {
  it('transient: the runner retries these with backoff (the runner’s former TRANSIENT set)', () => {
    expect(sorted(TRANSIENT_CODES)).toEqual(sorted([
      'E_HTTP_NETWORK', 'E_HTTP_TIMEOUT', 'E_HTTP_STATUS', 'E_MIRRORS_EXHAUSTED', 'E_DOWNLOAD_SLOW', 'E_DOWNLOAD_DEADLINE',
      'E_DOWNLOAD_TRUNCATED', 'E_ZFS_BUSY', 'E_ZVOL_DEVICE', 'E_NO_SPACE', 'E_RETRY_LATER', 'E_RETRY_LATER_EXHAUSTED', 'E_HTTP_REDIRECT',
      'E_BUNDLE_UNREADABLE',
    ]));
  });

  it('mirrorFailure: the download tries the next mirror on these (prefetch’s former MIRROR_FAILURES)', () => {
    expect(sorted(MIRROR_FAILURE_CODES)).toEqual(sorted([
      'E_HTTP_NETWORK', 'E_HTTP_TIMEOUT', 'E_HTTP_STATUS', 'E_HTTP_REDIRECT', 'E_DOWNLOAD_SLOW',
      'E_DOWNLOAD_TRUNCATED', 'E_DOWNLOAD_TOO_LARGE', 'E_DOWNLOAD_HASH',
    ]));
  });

  it('deletePartial: the partial download goes on these (prefetch’s former DELETE_PARTIAL_ON)', () => {
    expect(sorted(DELETE_PARTIAL_CODES)).toEqual(['E_BUNDLE_STREAM_HASH', 'E_DOWNLOAD_HASH', 'E_DOWNLOAD_TOO_LARGE']);
  });

  it('exit: usage (2) for the command line and config, deferred (3) for come back later, 1 for the rest', () => {
    expect(withExit('usage')).toEqual(sorted(['E_USAGE', 'E_CONFIG_READ', 'E_CONFIG_PARSE', 'E_CONFIG_UNKNOWN_KEY', 'E_CONFIG_INVALID']));
    expect(withExit('deferred')).toEqual(['E_RETRY_LATER']);
  });

  it('gives every code a message', () => {
    const codes = Object.keys(ERROR_CODES) as ErrorCode[];
    expect(codes.length).toBeGreaterThan(70);
    expect(codes.filter((c) => errorClass(c).message.length === 0)).toEqual([]);
  });
});
