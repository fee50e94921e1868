// What zfs's failures say, read from its stderr (C locale) and from the feeding pipe: busy, missing, a closed pipe.
/** zfs-fuse reports these for a while after files were read (FUSE releases asynchronously) or during a recv. */
export function isBusyMessage(stderr: string): boolean {
  return /\b(dataset|pool) is busy\b|device busy|resource busy/i.test(stderr);
}

/** The writer's side of a pipe the reader closed: a consequence of the receive ending, not a cause. */
export function isPipeError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END';
}

/** The dataset, snapshot or pool named does not exist. */
export function isMissingMessage(stderr: string): boolean {
  return /dataset does not exist|could not find any snapshots|no such (pool|dataset)/i.test(stderr);
}
