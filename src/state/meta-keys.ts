// The keys of the meta table (persisted and read by older agents: the strings never change).
export const META_KEYS = {
  /** The image the device falls back to: recorded before the first trial, then moved by each commit. */
  committedVersion: 'committed_version',
  /** The journal's pruned record (JSON: rows, throughId, throughAt). */
  journalPruned: 'journal_pruned',
  /** The identity (inode, size, times; JSON) of an image file as its export verified it. */
  verifiedImage: (version: number) => `verified-image:${version}` as const,
} as const;
