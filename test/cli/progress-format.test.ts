// The progress line's pure parts: bytes, rate and ETA formatting, the line, and the sliding-window rate.
import { describe, expect, it } from 'vitest';
import { downloadLine, etaSec, formatBytes, formatEta, formatRate, RateMeter } from '../../src/cli/progress-format.js';

describe('progress formatting', () => {
  it('formats bytes in binary units with one decimal', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(12.34 * 1024 * 1024)).toBe('12.3 MiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
    expect(formatBytes(5 * 1024 ** 5)).toBe('5120.0 TiB');
    expect(formatBytes(Number.NaN)).toBe('0 B');
  });

  it('formats a rate, and says so while it is unknown', () => {
    expect(formatRate(2 * 1024 * 1024)).toBe('2.0 MiB/s');
    expect(formatRate(null)).toBe('-- B/s');
    expect(formatRate(Number.POSITIVE_INFINITY)).toBe('-- B/s');
  });

  it('formats an ETA as m:ss or h:mm:ss, rounding up; --:-- when unknown', () => {
    expect(formatEta(0)).toBe('0:00');
    expect(formatEta(4.2)).toBe('0:05');
    expect(formatEta(125)).toBe('2:05');
    expect(formatEta(3723)).toBe('1:02:03');
    expect(formatEta(null)).toBe('--:--');
    expect(formatEta(-1)).toBe('--:--');
    expect(etaSec(500, 1500, 100)).toBe(10);
    expect(etaSec(500, 1500, 0)).toBeNull();
    expect(etaSec(2000, 1500, 100)).toBe(0);
  });

  it('puts label, bytes, percentage, rate and ETA on one line', () => {
    expect(downloadLine('downloading', 1.5 * 1024 * 1024, 4 * 1024 * 1024, 512 * 1024)).toBe('downloading 1.5 MiB / 4.0 MiB  37%  512.0 KiB/s  ETA 0:05');
    expect(downloadLine('downloading', 0, 0, null)).toBe('downloading 0 B / 0 B  0%  -- B/s  ETA --:--');
  });

  it('measures the rate over its window, not from byte 0 of a resumed download', () => {
    const m = new RateMeter(5000);
    expect(m.rate()).toBeNull();
    m.add(0, 10_000_000); // resumed at 10 MB: not speed
    expect(m.rate()).toBeNull();
    m.add(1000, 10_100_000);
    expect(m.rate()).toBe(100_000);
    for (let t = 2000; t <= 20_000; t += 1000) m.add(t, 10_100_000 + (t - 1000) * 1000); // then 1 MB/s
    expect(m.rate()).toBe(1_000_000);
    m.add(21_000, 0); // restarted from zero
    expect(m.rate()).toBeNull();
  });
});
