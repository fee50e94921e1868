// Pure formatting of a progress line: bytes, rate, ETA; and the sliding-window rate behind them.

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'] as const;

/** `512 B`, `1.5 KiB`, `12.3 MiB`: binary units, one decimal. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 1024) return `${Math.max(0, Math.round(Number.isFinite(n) ? n : 0))} B`;
  let v = n;
  let unit: string = UNITS[0];
  for (const u of UNITS) {
    v /= 1024;
    unit = u;
    if (v < 1024) break;
  }
  return `${v.toFixed(1)} ${unit}`;
}

/** `1.2 MiB/s`; `-- B/s` while unknown. */
export function formatRate(bytesPerSec: number | null): string {
  return bytesPerSec === null || !Number.isFinite(bytesPerSec) ? '-- B/s' : `${formatBytes(bytesPerSec)}/s`;
}

/** `0:42`, `12:05`, `1:02:03`; `--:--` while unknown (no rate yet, or a stall). */
export function formatEta(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec) || sec < 0) return '--:--';
  const s = Math.ceil(sec);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** Seconds left at `rate`; null when the rate is unknown or zero. */
export function etaSec(done: number, total: number, bytesPerSec: number | null): number | null {
  if (bytesPerSec === null || bytesPerSec <= 0) return null;
  return Math.max(0, total - done) / bytesPerSec;
}

/** `downloading 1.5 MiB / 4.0 MiB  37%  512.0 KiB/s  ETA 0:05` */
export function downloadLine(label: string, done: number, total: number, bytesPerSec: number | null): string {
  const pct = total > 0 ? Math.floor((100 * Math.min(done, total)) / total) : 0;
  return `${label} ${formatBytes(done)} / ${formatBytes(total)}  ${pct}%  ${formatRate(bytesPerSec)}  ETA ${formatEta(etaSec(done, total, bytesPerSec))}`;
}

/**
 * Bytes/s over the last `windowMs` of samples, so a resumed download's first offset (bytes from an earlier run) does
 * not count as speed. null until two samples span some time.
 */
export class RateMeter {
  private samples: { t: number; bytes: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  add(t: number, bytes: number): void {
    const last = this.samples.at(-1);
    // bytes going backwards is a restart from 0 (a stale resume): the old samples say nothing about it
    if (last && bytes < last.bytes) this.samples = [];
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && (this.samples[1] as { t: number }).t <= t - this.windowMs) this.samples.shift();
  }

  rate(): number | null {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.t <= first.t) return null;
    return ((last.bytes - first.bytes) * 1000) / (last.t - first.t);
  }
}
