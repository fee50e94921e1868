// Pure download helpers: validators, Content-Range, Retry-After, and the sliding-window throughput floor.
import { describe, expect, it } from 'vitest';
import { ThroughputWindow } from '../../src/adapters/http-guard.js';
import { parseContentLength, parseContentRange, pickValidator } from '../../src/steps/prefetch-range.js';
import { parseRetryAfter } from '../../src/adapters/http.js';

describe('header helpers', () => {
  it('prefers a strong ETag, never uses a weak one, falls back to Last-Modified', () => {
    expect(pickValidator('"abc"', 'Tue, 01 Jan 2030 00:00:00 GMT')).toBe('"abc"');
    expect(pickValidator('W/"abc"', 'Tue, 01 Jan 2030 00:00:00 GMT')).toBe('Tue, 01 Jan 2030 00:00:00 GMT');
    expect(pickValidator('W/"abc"', undefined)).toBeNull();
    expect(pickValidator(undefined, undefined)).toBeNull();
  });

  it('parses Content-Range and rejects nonsense', () => {
    expect(parseContentRange('bytes 100-199/200')).toEqual({ start: 100, end: 199, total: 200 });
    expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0, end: 9, total: null });
    expect(parseContentRange('bytes 10-5/200')).toBeNull();
    expect(parseContentRange('bytes 0-200/200')).toBeNull();
    expect(parseContentRange('bytes */200')).toBeNull();
    expect(parseContentRange(undefined)).toBeNull();
  });

  it('parses Retry-After as seconds or an HTTP-date', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 31 Dec 2029 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('parses Content-Length strictly', () => {
    expect(parseContentLength('42')).toBe(42);
    expect(parseContentLength('4x')).toBeUndefined();
    expect(parseContentLength(undefined)).toBeUndefined();
  });
});

describe('ThroughputWindow', () => {
  it('judges only after a full window, then over the last window only', () => {
    let t = 0;
    const w = new ThroughputWindow(1000, 10_000, () => t);
    w.start();
    t = 5000;
    expect(w.tooSlow()).toBe(false); // window still filling
    w.add(20_000); // fast burst early on
    t = 10_000;
    expect(w.tooSlow()).toBe(false);
    for (t = 11_000; t <= 30_000; t += 1000) w.add(100); // then a drip of 100 B/s
    expect(w.rate()).toBeLessThan(1000);
    expect(w.tooSlow()).toBe(true);
  });

  it('is off when the floor is 0', () => {
    let t = 0;
    const w = new ThroughputWindow(0, 1000, () => t);
    w.start();
    t = 60_000;
    expect(w.tooSlow()).toBe(false);
  });
});
