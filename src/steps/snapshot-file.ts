// Reads a file of a ZFS snapshot, or a zvol snapshot's bytes, through a temporary read-only clone (zfs-fuse has no .zfs/snapshot directory).
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Zfs } from '../adapters/zfs.js';
import { waitForBlockDevice, zvolPath } from '../adapters/zvol-device.js';
import type { Logger } from '../log.js';

/**
 * Clones `snapshot` read-only as `clone`, runs `fn` with the path of `file` inside it, and always destroys the
 * clone afterwards (the adapter retries while FUSE still calls it busy). The clone gets its own mountpoint, a
 * fresh directory under `mountBase`, and `canmount=noauto`: it never depends on what it would inherit (a pool made
 * with `-m none` has no mountpoint to inherit). When `fn` failed, its error wins and a failed destroy is only
 * logged; otherwise a failed destroy is the error.
 */
export async function withSnapshotFile<T>(
  deps: { zfs: Zfs; log: Logger },
  snapshot: string,
  clone: string,
  file: string,
  fn: (path: string) => Promise<T>,
  mountBase = tmpdir(),
): Promise<T> {
  const { zfs, log } = deps;
  if (await zfs.exists(clone)) await zfs.destroy(clone);
  const mountpoint = mkdtempSync(join(mountBase, 'ua-clone-'));
  let result: { ok: true; value: T } | { ok: false; error: unknown };
  let cloned = false;
  try {
    await zfs.clone(snapshot, clone, { readonly: 'on', canmount: 'noauto', mountpoint });
    cloned = true;
    await zfs.mount(clone);
    result = { ok: true, value: await fn(join(mountpoint, file)) };
  } catch (error) {
    result = { ok: false, error };
  }
  try {
    if (cloned) await zfs.destroy(clone);
    rmdirSync(mountpoint);
  } catch (err) {
    if (result.ok) throw err;
    log.error({ clone, mountpoint, err: (err as Error).message }, 'could not destroy the temporary clone');
  }
  if (!result.ok) throw result.error;
  return result.value;
}

/** How long udev may take to make a volume clone's /dev/zvol link (measured ~0.2 s under TCG). */
export const ZVOL_DEVICE_TIMEOUT_MS = 30_000;

/**
 * Clones the volume snapshot `snapshot` read-only as `clone`, waits for its block device, runs `fn` with the
 * device's path and always destroys the clone afterwards (busy while udev still probes it: the adapter retries).
 * A clone rather than `snapdev=visible`: it touches no property of the volume and exposes one device, not one per
 * snapshot; a clone a crash left behind has the export clone's name and goes before the next export.
 */
export async function withSnapshotDevice<T>(
  deps: { zfs: Zfs; log: Logger },
  snapshot: string,
  clone: string,
  fn: (device: string) => Promise<T>,
  timeoutMs = ZVOL_DEVICE_TIMEOUT_MS,
): Promise<T> {
  const { zfs, log } = deps;
  if (await zfs.exists(clone)) await zfs.destroy(clone);
  let result: { ok: true; value: T } | { ok: false; error: unknown };
  let cloned = false;
  try {
    await zfs.clone(snapshot, clone, { readonly: 'on' });
    cloned = true;
    const device = zvolPath(clone);
    await waitForBlockDevice(device, timeoutMs);
    result = { ok: true, value: await fn(device) };
  } catch (error) {
    result = { ok: false, error };
  }
  try {
    if (cloned) await zfs.destroy(clone);
  } catch (err) {
    if (result.ok) throw err;
    log.error({ clone, err: (err as Error).message }, 'could not destroy the temporary volume clone');
  }
  if (!result.ok) throw result.error;
  return result.value;
}
