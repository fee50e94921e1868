// Migrate step: carries configured files from the running root into the new image before the device boots it.
import { stat } from 'node:fs/promises';
import type { ImageMounter } from '../adapters/image-mount.js';
import type { ImageFsck } from '../adapters/fsck.js';
import { MigrateError } from '../errors.js';
import type { Logger } from '../log.js';
import { applyMigration, type ApplyResult } from './migrate-apply.js';
import { parsePattern } from './migrate-glob.js';
import { countActions, planMigration, type EntryAction, type MigrationPlan, type PlanEntry } from './migrate-plan.js';

export { applyMigration, type ApplyResult } from './migrate-apply.js';
export { globMatch, parsePattern } from './migrate-glob.js';
export { countActions, planMigration, type EntryAction, type EntryKind, type MigrationPlan, type MigrationSelection, type PlanEntry } from './migrate-plan.js';

/** The shape of the config's `migrate` section. */
export interface MigrateSettings {
  /** The running system's root ('/' on a device; a sandbox directory in tests and the demo). */
  sourceRoot: string;
  /** Absolute paths or patterns (`*` within a segment, `**` across segments); directories are copied whole. */
  allow: string[];
  /** Never carried, even when allowed; a matching directory excludes everything below it. */
  deny: string[];
  /** Where temporary mountpoints are made; a tmpfs (/run) so a reboot leaves none behind. */
  runtimeDir: string;
}

export const MIGRATE_DEFAULTS: MigrateSettings = { sourceRoot: '/', allow: [], deny: [], runtimeDir: '/run/upgrade-agent/migrate' };

/** Checks every allow/deny entry (absolute, no `.`/`..`, not `/`); throws E_MIGRATE_PATH naming the bad one. */
export function validateMigrateSelection(sel: { allow: string[]; deny?: string[] }): void {
  for (const p of [...sel.allow, ...(sel.deny ?? [])]) parsePattern(p);
}

export interface MigrateDeps {
  mounter: ImageMounter;
  fsck: ImageFsck;
  log: Logger;
}

export interface MigrateOptions {
  imagePath: string;
  sourceRoot: string;
  allow: string[];
  deny?: string[];
  /** Plan only: the image is mounted read-only and not a byte of it changes. */
  dryRun: boolean;
}

export interface MigrationReport {
  imagePath: string;
  dryRun: boolean;
  /** Mountpoints of this image left by an earlier, killed run and unmounted first. */
  recoveredMounts: string[];
  entries: PlanEntry[];
  denied: string[];
  counts: Record<EntryAction, number>;
  /** What was written; null on a dry run. */
  applied: ApplyResult | null;
  fsck: 'clean';
}

/** `e2fsck -fn`: forced full check that never writes. 0 is clean; 4 (errors left) or 8 (could not check) is not. */
export async function checkImageClean(fsck: ImageFsck, imagePath: string): Promise<void> {
  const r = await fsck.check(imagePath);
  if (r.exitCode !== 0) {
    const output = r.output;
    throw new MigrateError('E_MIGRATE_FSCK', `e2fsck -fn ${imagePath} exited ${r.exitCode}: ${output}`, {
      context: { imagePath, exitCode: r.exitCode, output },
    });
  }
}

/**
 * Unmounts mounts of this image left under our runtime dir by a killed run (so the step is re-runnable after
 * kill -9). A mount anywhere else is someone else's: a second read-write mount of one ext4 corrupts it, so refuse.
 */
async function recoverLeftovers(deps: MigrateDeps, imagePath: string): Promise<string[]> {
  const recovered: string[] = [];
  for (const m of await deps.mounter.findMounts(imagePath)) {
    if (!m.ours) {
      throw new MigrateError('E_MIGRATE_IMAGE_BUSY', `${imagePath} is already mounted on ${m.mountpoint}`, { context: { imagePath, mountpoint: m.mountpoint } });
    }
    deps.log.warn({ imagePath, mountpoint: m.mountpoint }, 'migrate: unmounting a mount left by an interrupted run');
    await deps.mounter.unmount(m.mountpoint);
    recovered.push(m.mountpoint);
  }
  await deps.mounter.removeStale();
  return recovered;
}

/**
 * Makes an image that a crash or power cut left mid-migration mountable and consistent again: our own leftover
 * mounts of it are released, then `e2fsck -p` replays its ext4 journal (a power cut leaves `needs_recovery` set, and
 * the kernel refuses a read-only mount of such a filesystem) and repairs what preening may. Exit 0–2 is repaired or
 * clean; anything else is E_MIGRATE_FSCK. The migration is then simply run again: it is idempotent.
 */
export async function recoverInterruptedImage(deps: MigrateDeps, imagePath: string): Promise<{ recoveredMounts: string[]; fsckExit: number; output: string }> {
  const recoveredMounts = await recoverLeftovers(deps, imagePath);
  const r = await deps.fsck.preen(imagePath);
  const output = r.output;
  if (r.exitCode === null || r.exitCode > 2) {
    throw new MigrateError('E_MIGRATE_FSCK', `e2fsck -p ${imagePath} exited ${r.exitCode}: ${output}`, {
      context: { imagePath, exitCode: r.exitCode, output },
    });
  }
  deps.log.warn({ imagePath, recoveredMounts, fsckExit: r.exitCode, output }, 'migrate: image of an interrupted migration recovered');
  return { recoveredMounts, fsckExit: r.exitCode, output };
}

/**
 * Mounts the image (read-write, or read-only for a dry run), plans, applies unless dryRun, syncs, always
 * unmounts, then proves the image clean with e2fsck. Re-running after a crash at any point is safe: every copy
 * is tmp + rename, and the next plan only lists what still differs.
 */
export async function migrateIntoImage(deps: MigrateDeps, opts: MigrateOptions): Promise<MigrationReport> {
  const { mounter, log } = deps;
  const ctx = { imagePath: opts.imagePath, dryRun: opts.dryRun };
  validateMigrateSelection(opts); // a config mistake should not cost a mount
  if ((await stat(opts.imagePath).catch(() => null))?.isFile() !== true) {
    throw new MigrateError('E_MIGRATE_NO_IMAGE', `image ${opts.imagePath} does not exist`, { context: ctx });
  }
  const recoveredMounts = await recoverLeftovers(deps, opts.imagePath);

  const mountpoint = await mounter.makeMountpoint();
  let plan: MigrationPlan | null = null;
  let applied: ApplyResult | null = null;
  let failure: unknown = null;
  try {
    await mounter.mount(opts.imagePath, mountpoint, { readOnly: opts.dryRun });
    plan = await planMigration({ sourceRoot: opts.sourceRoot, allow: opts.allow, deny: opts.deny ?? [] }, mountpoint);
    log.info({ ...ctx, counts: countActions(plan.entries), denied: plan.denied.length }, 'migrate: planned');
    if (!opts.dryRun) {
      applied = await applyMigration(plan, opts.sourceRoot, mountpoint);
      // syncfs: the data is on the image before umount even if umount were to hang or be killed.
      await mounter.syncfs(mountpoint);
      log.info({ ...ctx, ...applied }, 'migrate: applied');
    }
  } catch (err) {
    failure = err;
  }
  try {
    await mounter.unmount(mountpoint);
  } catch (err) {
    if (failure === null) throw err;
    log.error({ ...ctx, mountpoint, err: (err as Error).message }, 'migrate: unmount failed after an error');
  }
  if (failure !== null) throw failure;
  if (plan === null) throw new MigrateError('E_MIGRATE_MOUNT', 'migration produced no plan', { context: ctx });

  await checkImageClean(deps.fsck, opts.imagePath);
  const counts = countActions(plan.entries);
  for (const e of plan.entries) if (e.action === 'skip') log.warn({ ...ctx, path: e.path, reasons: e.reasons }, 'migrate: skipped');
  log.info({ ...ctx, counts }, opts.dryRun ? 'migrate: dry run done, image unchanged' : 'migrate: done, image clean');
  return { imagePath: opts.imagePath, dryRun: opts.dryRun, recoveredMounts, entries: plan.entries, denied: plan.denied, counts, applied, fsck: 'clean' };
}
