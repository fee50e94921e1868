// Retention as a pure plan: keep the newest N images, never the booted, committed or trial one, nor the base snapshot.

export interface RetentionInput {
  images: number[];
  snapshots: number[];
  keepImages: number;
  /** Booted, committed and trial (active deployment) versions: never removed. */
  protectedVersions: (number | null)[];
}

export interface RetentionPlan {
  deleteImages: number[];
  destroySnapshots: number[];
}

export function planRetention(i: RetentionInput): RetentionPlan {
  const protect = new Set(i.protectedVersions.filter((v): v is number => v !== null));
  const newestFirst = [...new Set(i.images)].sort((a, b) => b - a);
  const keep = new Set(newestFirst.slice(0, i.keepImages));
  for (const v of protect) keep.add(v);
  const deleteImages = newestFirst.filter((v) => !keep.has(v)).sort((a, b) => a - b);
  // The newest snapshot is the base of the next diff; snapshots of kept images stay so their lineage is intact.
  const snaps = [...new Set(i.snapshots)].sort((a, b) => a - b);
  const base = snaps[snaps.length - 1];
  const oldestKept = Math.min(...keep, base ?? Infinity);
  const destroySnapshots = snaps.filter((v) => v !== base && v < oldestKept && !protect.has(v));
  return { deleteImages, destroySnapshots };
}
