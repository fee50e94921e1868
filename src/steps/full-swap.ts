// Full streams land in `<ds>.full` and are swapped in by renames; each step is repeatable after a crash anywhere.
import type { Logger } from '../log.js';
import type { DatasetEntry, DatasetView, Snapshot, Zfs } from '../adapters/zfs.js';

export interface SwapDeps {
  zfs: Zfs;
  log: Logger;
}

export const stagingName = (ds: string): string => `${ds}.full`;
export const retiredName = (ds: string): string => `${ds}.old`;
/** Export clones are siblings named after the dataset (see export.ts). */
export const exportCloneName = (ds: string, version: number): string => `${ds}.export-${version}`;

/** What a received dataset's head is left with (and what a receive that takes `-o` sets by itself). */
export const SETTLED_PROPS = { atime: 'off', readonly: 'on', canmount: 'noauto' } as const;

const newest = (snaps: Snapshot[]): Snapshot | undefined => snaps[snaps.length - 1];

/** True when the listed head already is as settleDataset leaves it. */
export const isSettled = (e: DatasetEntry): boolean =>
  e.mounted === false && Object.entries(SETTLED_PROPS).every(([k, v]) => e[k as keyof typeof SETTLED_PROPS] === v);

/**
 * The head of a received dataset is never used (exports come from clones of snapshots), so keep it unmounted and
 * unwritable: reading a file there would update atime and make the next incremental recv fail. Given the dataset's
 * listed entry, only what differs is changed (usually nothing).
 */
export async function settleDataset(zfs: Zfs, name: string, current?: DatasetEntry): Promise<void> {
  if (current && isSettled(current)) return;
  const change = Object.fromEntries(Object.entries(SETTLED_PROPS).filter(([k, v]) => current?.[k as keyof typeof SETTLED_PROPS] !== v));
  await zfs.setProps(name, change);
  if (current?.mounted !== false) await zfs.unmount(name);
}

/** Destroys leftover export clones of `ds`: a mounted clone blocks renaming its origin, and any clone blocks destroy -r. */
export async function destroyExportClones(deps: SwapDeps, ds: string, view?: DatasetView): Promise<void> {
  const prefix = `${ds}.export-`;
  const names = view ? view.named(prefix) : (await deps.zfs.children(ds.slice(0, ds.lastIndexOf('/')))).filter((c) => c.startsWith(prefix));
  for (const child of names) {
    deps.log.warn({ clone: child }, 'destroying leftover export clone');
    await deps.zfs.destroy(child);
  }
}

/** Puts `<ds>.full` in place of `<ds>` (which may not exist) and drops the old history; `view` is a listing from just before. */
export async function swapInStaging(deps: SwapDeps, ds: string, view?: DatasetView): Promise<void> {
  const { zfs, log } = deps;
  const v = view ?? (await zfs.view(ds));
  const full = stagingName(ds);
  const old = retiredName(ds);
  // zfs-fuse refuses (persistently "busy") to rename a mounted dataset or one whose clone is mounted.
  await settleDataset(zfs, full, v.get(full));
  const hadOld = v.exists(old);
  if (v.exists(ds)) {
    if (v.get(ds)?.mounted !== false) await zfs.unmount(ds);
    await destroyExportClones(deps, ds, v);
    if (hadOld) {
      await destroyExportClones(deps, old, v);
      await zfs.destroy(old, { recursive: true });
    }
    log.info({ from: ds, to: old }, 'full swap: retiring current dataset');
    await zfs.rename(ds, old);
  }
  log.info({ from: full, to: ds }, 'full swap: staging dataset takes its place');
  await zfs.rename(full, ds);
  if (v.exists(ds)) {
    // The retired dataset is the old `ds`: its clones went above, under that name.
    await zfs.destroy(old, { recursive: true });
  } else if (hadOld) {
    await destroyExportClones(deps, old, v);
    await zfs.destroy(old, { recursive: true });
  }
}

/** True when the listing shows a staging or retired dataset: a full swap was interrupted. */
export const swapInterrupted = (view: DatasetView, ds: string): boolean => view.exists(stagingName(ds)) || view.exists(retiredName(ds));

/**
 * Looks at which of `<ds>`, `<ds>.full`, `<ds>.old` exist and finishes or undoes an interrupted swap.
 * `.full` exists only once a full recv completed (ZFS discards partial receives), so a staging dataset whose
 * newest snapshot is newer than the dataset's is finished; an older or empty one is dropped.
 */
export async function recoverFullSwap(deps: SwapDeps, ds: string, view?: DatasetView): Promise<void> {
  const { zfs, log } = deps;
  const v = view ?? (await zfs.view(ds));
  const full = stagingName(ds);
  const old = retiredName(ds);
  const [hasDs, hasFull, hasOld] = [v.exists(ds), v.exists(full), v.exists(old)];
  if (!hasDs && !hasFull && !hasOld) return;
  if (!hasDs && hasOld && !hasFull) {
    // Staging vanished after the current dataset was retired: put the old history back rather than lose it.
    log.warn({ dataset: ds }, 'full swap recovery: restoring retired dataset');
    await zfs.rename(old, ds);
    return;
  }
  if (hasOld && hasDs) {
    log.info({ dataset: old }, 'full swap recovery: destroying retired dataset');
    await destroyExportClones(deps, old, v);
    await zfs.destroy(old, { recursive: true });
  }
  if (!hasFull) return;
  const stagedTop = newest(v.snapshots(full));
  const currentTop = hasDs ? newest(v.snapshots(ds)) : undefined;
  if (stagedTop && (!currentTop || stagedTop.version > currentTop.version)) {
    log.info({ dataset: ds, version: stagedTop.version }, 'full swap recovery: finishing swap');
    // The listing is stale once .old went; swapInStaging takes its own.
    await swapInStaging(deps, ds, hasOld && hasDs ? undefined : v);
  } else {
    log.warn({ dataset: full }, 'full swap recovery: dropping stale staging dataset');
    await zfs.destroy(full, { recursive: true });
    if (!hasDs && hasOld) await zfs.rename(old, ds);
  }
}
