// Pure arithmetic of the workload bench: medians and spreads over repetitions, throughput ratios, cgroup v1 shares.

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median (mean of the middle two for an even count), min and max; throws on an empty or non-finite list. */
export function spread(xs: number[]): Spread {
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x))) throw new Error(`spread: need finite numbers, got [${xs.join(', ')}]`);
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { median, min: s[0] as number, max: s[s.length - 1] as number, n: s.length };
}

/** Throughput of a run: bytes over the seconds it took (0 bytes → 0). */
export function rate(bytes: number, sec: number): number {
  if (!(sec > 0)) throw new Error(`rate: seconds must be > 0, got ${sec}`);
  return bytes / sec;
}

/**
 * Per repetition, contended[i] / alone[i] (a rate under contention over the rate alone, or a wall time with the
 * workload over the wall time alone), pairing each contended run with the alone run of the same repetition so slow
 * drift of the shared machine cancels; then the spread of those ratios.
 */
export function pairedRatios(alone: number[], contended: number[]): Spread {
  if (alone.length !== contended.length) throw new Error(`pairedRatios: ${alone.length} alone vs ${contended.length} contended runs`);
  return spread(alone.map((a, i) => {
    if (!(a > 0)) throw new Error(`pairedRatios: alone value must be > 0, got ${a}`);
    return (contended[i] as number) / a;
  }));
}

/**
 * cgroup v1 cpu.shares equivalent to a cgroup v2 / systemd CPUWeight= (default weight 100 ↔ 1024 shares), the
 * mapping systemd itself uses on the legacy hierarchy (integer division); clamped to the kernel's 2..262144.
 */
export function sharesForWeight(weight: number): number {
  if (!Number.isInteger(weight) || weight < 1 || weight > 10_000) throw new Error(`CPUWeight must be an integer in 1..10000, got ${weight}`);
  return Math.min(262_144, Math.max(2, Math.floor((weight * 1024) / 100)));
}
