// Every journal event name the agent writes, with what it records (persisted and grepped by tests: never rename).
import type { StepName } from '../core/phases.js';
import type { SwitchDecision } from '../core/window.js';

/** Event name → what its row records. `Store.journal()` and `transition()` accept only these names. */
export const JOURNAL_EVENTS = {
  created: 'a deployment was created for a target (pending)',
  phase: 'a phase transition with no more specific event (data: the reason code and reason, if any)',
  'checked-in': 'a check-in answered (data: the target offered, if any)',
  'up-to-date': 'the offered target is the running version: nothing to do',
  'target-refused': 'the offered target failed or was rolled back before: not retried automatically',
  'target-deferred': 'the offered target already has a deployment in progress',
  resumed: 'an interrupted in-progress phase was found at start and is resumed (data: the resume count)',
  'bundle-opened': 'prepare --bundle: the bundle was indexed and its manifest verified (data: path, size, streams)',
  'stream-selected': 'the download chose a stream (full or a diff from a base; data.onDemand: built by the fleet server after the release)',
  'diff-offer-declined': 'the fleet server has no on-demand diff from this base (or its delegation does not cover it): the full stream instead (data: code)',
  'download:start': 'download step began (pending → downloading)',
  'download:done': 'download step finished (→ downloaded)',
  'download:deferred': 'download step will retry later (come back later, or a transient fault; data: code, retryAt)',
  'download:failed': 'download step failed for good (→ failed; data: code, message)',
  downloaded: 'the stream is on disk and matches its signed size and sha256',
  'import:start': 'import step began (downloaded → importing)',
  'import:done': 'import step finished (→ imported)',
  'import:deferred': 'import step will retry later (a transient fault; data: code, retryAt)',
  'import:failed': 'import step failed for good (→ failed; data: code, message)',
  imported: 'the stream was received into the pool',
  'export:start': 'export step began (imported → exporting)',
  'export:done': 'export step finished (→ ready)',
  'export:deferred': 'export step will retry later (a transient fault; data: code, retryAt)',
  'export:failed': 'export step failed for good (→ failed; data: code, message)',
  exported: 'the image file was written and matches its signed sha256',
  'window:switch': 'the switch window decided to switch now (in the window and idle, or forced)',
  'window:wait': 'the switch window decided to wait for the next window',
  'window:postpone': 'the switch window postponed: the device was busy (data: the idle probes’ reasons)',
  'committed-recorded': 'before the first trial, the booted image was recorded as the committed one',
  'image-verified': 'the image to switch to was checked against its signed hash (or is unchanged since its export)',
  'switch:start': 'the switch began: migrating (data: the committed version to fall back to)',
  'switch:resume': 'an interrupted migration is resumed',
  'image-recovered': 'the image’s filesystem journal was replayed after a cut mid-migration',
  migrated: 'configuration was migrated into the image (data: counts)',
  'switch:staged': 'grub.cfg written and the one-shot trial armed (→ staged)',
  'switch:reboot': 'rebooting into the trial (→ rebooting)',
  'switch:failed': 'the switch failed before anything was armed (→ failed; data: code, message)',
  'boot-files-flushed': "Grub's files were flushed to disk after a write",
  'boot-files-flush-failed': "flushing Grub's files failed after a write (recorded, not fatal)",
  'boot-reconciled': 'at start, the boot state was reconciled with the deployment (data: phase, action)',
  'confirm:start': 'the trial boot is being confirmed (→ confirming; data: the attempt)',
  health: 'the trial’s health-check report',
  'confirm:committed': 'the trial passed and was committed (→ committed; the committed version moves with it)',
  'rolled-back': 'the trial was rolled back (→ rolled_back; data: the reason code)',
  cleanup: 'retention ran (data: the images kept and removed)',
} as const;

export type JournalEvent = keyof typeof JOURNAL_EVENTS;

/** Compile-time check: every dynamic name the code builds has its row. */
type Dynamic = `${StepName}:${'start' | 'done' | 'deferred' | 'failed'}` | `window:${SwitchDecision['action']}`;
export const DYNAMIC_EVENTS_HAVE_ROWS: Dynamic extends JournalEvent ? true : never = true;
