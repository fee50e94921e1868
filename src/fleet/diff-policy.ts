// Pure decisions of on-demand diffs: the Retry-After estimate and which built diffs to evict under the byte budget.
import type { DeviceRow, DiffRow } from './fleet-store.js';

export const DEFAULT_BUILD_MS = 30_000;
const MAX_RETRY_AFTER_SEC = 3600;

/**
 * Seconds until a diff is likely done, from the last builds' durations: a running build has its mean duration minus
 * what it already ran; a queued one waits for the builds ahead of it, `concurrency` at a time, then its own.
 * Within 1..3600 s.
 */
export function retryAfterSec(recentBuildMs: readonly number[], where: { running: true; elapsedMs: number } | { running: false; position: number }, concurrency: number): number {
  const per = recentBuildMs.length === 0 ? DEFAULT_BUILD_MS : recentBuildMs.reduce((a, b) => a + b, 0) / recentBuildMs.length;
  const ms = where.running ? per - where.elapsedMs : per * (Math.floor(where.position / Math.max(1, concurrency)) + 1) + per / 2;
  return Math.min(MAX_RETRY_AFTER_SEC, Math.max(1, Math.ceil(ms / 1000)));
}

export const pairKey = (from: number, to: number): string => `${from}-${to}`;

/** How many devices have each committed version: what the stores' committedCounts() aggregate computes. */
export function committedCounts(devices: readonly Pick<DeviceRow, 'committedVersion'>[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const d of devices) if (d.committedVersion !== null) counts.set(d.committedVersion, (counts.get(d.committedVersion) ?? 0) + 1);
  return counts;
}

/**
 * The pairs never evicted: the newest release's diffs from the `k` most common committed versions of the fleet's
 * devices, given as their committedCounts (ties: the newer base first).
 */
export function protectedPairs(newest: number | null, counts: ReadonlyMap<number, number>, k: number): Set<string> {
  if (newest === null || k === 0) return new Set();
  const top = [...counts].filter(([base]) => base < newest).sort((a, b) => b[1] - a[1] || b[0] - a[0]).slice(0, k);
  return new Set(top.map(([base]) => pairKey(base, newest)));
}

/** Least recently served first, until the rest fits `budgetBytes`; protected pairs stay even over budget. */
export function evictionPlan(diffs: readonly DiffRow[], budgetBytes: number, keep: ReadonlySet<string>): DiffRow[] {
  let total = diffs.reduce((a, d) => a + d.size, 0);
  const out: DiffRow[] = [];
  for (const d of [...diffs].sort((a, b) => a.lastServedAt - b.lastServedAt || a.builtAt - b.builtAt)) {
    if (total <= budgetBytes) break;
    if (keep.has(pairKey(d.from, d.to))) continue;
    out.push(d);
    total -= d.size;
  }
  return out;
}
