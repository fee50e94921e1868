// The committed image, from the store and what booted (BootInfo): recorded, or the booted image, but never a trial.
import type { Store } from '../state/store.js';
import { SWITCH_PHASES } from './phases.js';

/**
 * The committed image: recorded by the switch (before it arms the first trial, then at each commit); before any
 * switch, the image the device booted. A state file from an agent that recorded it only at a commit may be mid-trial,
 * and then the booted image is the trial: the fallback is the one its switch started from.
 */
export function readCommittedVersion(store: Store, booted: number | null): number | null {
  const v = store.committedVersion();
  if (v !== null) return v;
  const active = store.active();
  if (!active || !SWITCH_PHASES.has(active.phase) || booted !== active.version) return booted;
  const start = store.history(1000, active.id).find((e) => e.event === 'switch:start')?.data as { committed?: unknown } | undefined;
  return typeof start?.committed === 'number' ? start.committed : null;
}
