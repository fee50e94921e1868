// The Grub port: the one interface that owns Grub's files (grub.cfg's default, the one-shot trial in grubenv).
import { checkEntryHasPanic } from './grub-checks.js';
import type { JournalEvent } from '../state/journal-events.js';

/**
 * Why Grub's files were written; persisted as `after` in the journal's `boot-files-flushed` rows (names only grow).
 *  - trial-armed: staging wrote grub.cfg (committed default) and armed the trial;
 *  - disarmed: a staging that failed, or the operator, took the trial back;
 *  - default-moved: the confirm moved grub.cfg's default to the healthy trial;
 *  - unhealthy / rolled-back: a trial that ends without a commit put the committed image back.
 */
export const GRUB_WRITES = ['trial-armed', 'disarmed', 'default-moved', 'unhealthy', 'rolled-back'] as const;
export type GrubWrite = (typeof GRUB_WRITES)[number];

/**
 * Every write is atomic (Grub sees the old file or the new one), flushed for Grub (it does not replay the ext4 journal)
 * and journaled, inside the port: callers never write a Grub file or flush themselves.
 */
export interface GrubPort {
  /** Pre-flight: Grub can save its environment where the files live (plain filesystem, writable). Throws E_PREFLIGHT. */
  checkWritable(): void;
  /** The version the armed one-shot trial boots, or null (nothing armed, garbled grubenv, or not an entry of ours). */
  trialArmed(): number | null;
  /** The version grub.cfg defaults to, or null when there is no grub.cfg of ours. */
  defaultVersion(): number | null;
  /**
   * Staging: grub.cfg for the images present with `committed` as default, then (after `between`, a crash point) the
   * trial of `version` armed last; one flush for both. Refuses (E_PREFLIGHT) an entry without panic=.
   */
  armTrial(version: number, committed: number, between?: () => void): Promise<void>;
  /** Takes the trial back (next_entry emptied). */
  disarm(why: GrubWrite): Promise<void>;
  /** grub.cfg's default (and fallback) := `version`. */
  setDefault(version: number, why: GrubWrite): Promise<void>;
  /** Whatever boots next is `committed`: trial disarmed and grub.cfg's default = committed, one flush. */
  restoreCommitted(committed: number, why: GrubWrite): Promise<void>;
}

/** The grub.cfg text for a default: both implementations render through the same generator. */
export type GrubRender = (defaultVersion: number) => string;

/** Records a write: the real port journals its flush; the fake only this. */
export type GrubJournal = (event: Extract<JournalEvent, 'boot-files-flushed' | 'boot-files-flush-failed'>, data: Record<string, unknown>) => void;

/** grub.cfg for a trial's staging, checked before it is written: a failed boot of the trial must reboot (panic=). */
export function stagingCfg(render: GrubRender, version: number, committed: number): string {
  const cfg = render(committed);
  checkEntryHasPanic(cfg, version);
  return cfg;
}

/** The default a generated grub.cfg sets (its header), or null. */
export function defaultOfCfg(cfg: string | null): number | null {
  const m = cfg === null ? null : /^\s*set default="img-([1-9][0-9]*)"$/m.exec(cfg);
  return m ? Number(m[1]) : null;
}
