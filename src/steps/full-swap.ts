// Full streams land in `<ds>.full` and are swapped in by renames; each step is repeatable after a crash anywhere.
import type { Logger } from '../log.js';
import type { Snapshot, Zfs } from '../adapters/zfs.js';

export interface SwapDeps {
  zfs: Zfs;
  log: Logger;
}

export const stagingName = (ds: string): string => `${ds}.full`;
export const retiredName = (ds: string): string => `${ds}.old`;
/** Export clones are siblings named after the dataset (see export.ts). */
export const exportCloneName = (ds: string, version: number): string => `${ds}.export-${version}`;

const newest = (snaps: Snapshot[]): Snapshot | undefined => snaps[snaps.length - 1];

/**
 * The head of a received dataset is never used (exports come from clones of snapshots), so keep it unmounted and
 * unwritable: reading a file there would update atime and make the next incremental recv fail.
 */
export async function settleDataset(zfs: Zfs, name: string): Promise<void> {
  await zfs.setProps(name, { atime: 'off', readonly: 'on', canmount: 'noauto' });
  await zfs.unmount(name);
}

/** Destroys leftover export clones of `ds`: a mounted clone blocks renaming its origin, and any clone blocks destroy -r. */
export async function destroyExportClones(deps: SwapDeps, ds: string): Promise<void> {
  const slash = ds.lastIndexOf('/');
  const parent = ds.slice(0, slash);
  const prefix = `${ds}.export-`;
  for (const child of await deps.zfs.children(parent)) {
    if (!child.startsWith(prefix)) continue;
    deps.log.warn({ clone: child }, 'destroying leftover export clone');
    await deps.zfs.destroy(child);
  }
}

/** Puts `<ds>.full` in place of `<ds>` (which may not exist) and drops the old history. */
export async function swapInStaging(deps: SwapDeps, ds: string): Promise<void> {
  const { zfs, log } = deps;
  const full = stagingName(ds);
  const old = retiredName(ds);
  // zfs-fuse refuses (persistently "busy") to rename a mounted dataset or one whose clone is mounted.
  await settleDataset(zfs, full);
  if (await zfs.exists(ds)) {
    await zfs.unmount(ds);
    await destroyExportClones(deps, ds);
    if (await zfs.exists(old)) await zfs.destroy(old, { recursive: true });
    log.info({ from: ds, to: old }, 'full swap: retiring current dataset');
    await zfs.rename(ds, old);
  }
  log.info({ from: full, to: ds }, 'full swap: staging dataset takes its place');
  await zfs.rename(full, ds);
  if (await zfs.exists(old)) {
    await destroyExportClones(deps, old);
    await zfs.destroy(old, { recursive: true });
  }
}

/**
 * Looks at which of `<ds>`, `<ds>.full`, `<ds>.old` exist and finishes or undoes an interrupted swap.
 * `.full` exists only once a full recv completed (ZFS discards partial receives), so a staging dataset whose
 * newest snapshot is newer than the dataset's is finished; an older or empty one is dropped.
 */
export async function recoverFullSwap(deps: SwapDeps, ds: string): Promise<void> {
  const { zfs, log } = deps;
  const full = stagingName(ds);
  const old = retiredName(ds);
  const [hasDs, hasFull, hasOld] = await Promise.all([zfs.exists(ds), zfs.exists(full), zfs.exists(old)]);
  if (!hasDs && !hasFull && !hasOld) return;
  if (!hasDs && hasOld && !hasFull) {
    // Staging vanished after the current dataset was retired: put the old history back rather than lose it.
    log.warn({ dataset: ds }, 'full swap recovery: restoring retired dataset');
    await zfs.rename(old, ds);
    return;
  }
  if (hasOld && hasDs) {
    log.info({ dataset: old }, 'full swap recovery: destroying retired dataset');
    await destroyExportClones(deps, old);
    await zfs.destroy(old, { recursive: true });
  }
  if (!hasFull) return;
  const stagedTop = newest(await zfs.snapshots(full));
  const currentTop = hasDs ? newest(await zfs.snapshots(ds)) : undefined;
  if (stagedTop && (!currentTop || stagedTop.version > currentTop.version)) {
    log.info({ dataset: ds, version: stagedTop.version }, 'full swap recovery: finishing swap');
    await swapInStaging(deps, ds);
  } else {
    log.warn({ dataset: full }, 'full swap recovery: dropping stale staging dataset');
    await zfs.destroy(full, { recursive: true });
    if (!hasDs && hasOld) await zfs.rename(old, ds);
  }
}
