// Snapshot names: the version is the integer after '@'; anything else is not one of ours.

/** Snapshot version from `pool/ds@123`; null for names that are not plain non-negative integers. */
export function snapshotVersion(name: string): number | null {
  const at = name.lastIndexOf('@');
  if (at < 0) return null;
  const tail = name.slice(at + 1);
  if (!/^\d{1,15}$/.test(tail)) return null;
  const n = Number(tail);
  return Number.isSafeInteger(n) ? n : null;
}
