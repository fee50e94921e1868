// Reads a file of a ZFS snapshot through a temporary read-only clone (zfs-fuse has no .zfs/snapshot directory).
import { join } from 'node:path';
import type { Zfs } from '../adapters/zfs.js';
import type { Logger } from '../log.js';
import { ExportError } from '../errors.js';

/**
 * Clones `snapshot` read-only as `clone`, runs `fn` with the path of `file` inside it, and always destroys the
 * clone afterwards (the adapter retries while FUSE still calls it busy). When `fn` failed, its error wins and a
 * failed destroy is only logged; otherwise a failed destroy is the error.
 */
export async function withSnapshotFile<T>(
  deps: { zfs: Zfs; log: Logger },
  snapshot: string,
  clone: string,
  file: string,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  const { zfs, log } = deps;
  if (await zfs.exists(clone)) await zfs.destroy(clone);
  await zfs.clone(snapshot, clone, { readonly: 'on' });
  let result: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    let mountpoint = await zfs.mountpoint(clone);
    if (mountpoint === null) {
      await zfs.mount(clone);
      mountpoint = await zfs.mountpoint(clone);
    }
    if (mountpoint === null) throw new ExportError('E_IMAGE_SOURCE', `clone ${clone} has no mountpoint`, { context: { clone } });
    result = { ok: true, value: await fn(join(mountpoint, file)) };
  } catch (error) {
    result = { ok: false, error };
  }
  try {
    await zfs.destroy(clone);
  } catch (err) {
    if (result.ok) throw err;
    log.error({ clone, err: (err as Error).message }, 'could not destroy the temporary clone');
  }
  if (!result.ok) throw result.error;
  return result.value;
}
