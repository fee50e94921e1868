// Applies the retention plan: old images, snapshots older than every kept image, and other deployments' downloads.
import type { Device } from './device.js';
import { readdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { planRetention, type RetentionPlan } from './retention.js';
import { readCommittedVersion } from './device-facts.js';
import { SWITCH_PHASES } from './phases.js';
import { listImages } from '../util/images-dir.js';
import { UpgradeError } from '../errors.js';

export interface CleanupResult extends RetentionPlan {
  staleDownloads: string[];
}

/** Plans (and unless dryRun, applies) retention; what booted and the armed trial come from the ports, read now. */
export async function applyRetention(deps: Device, dryRun: boolean): Promise<CleanupResult> {
  const { config, store, zfs, log } = deps;
  const booted = deps.boot.bootedVersion();
  const trial = deps.grub.trialArmed();
  const dataset = `${config.zfs.pool}/${config.zfs.dataset}`;
  const active = store.active();
  // During a switch the fallback, the trial and what runs are in flux (and before the first commit, "booted" is the
  // trial): nothing is deleted until the trial is committed or rolled back.
  if (active && SWITCH_PHASES.has(active.phase)) {
    throw new UpgradeError('E_SWITCH_ACTIVE', `deployment ${active.id} (image ${active.version}) is ${active.phase}: no cleanup until it is committed or rolled back`, {
      context: { id: active.id, version: active.version, phase: active.phase },
    });
  }
  const plan = planRetention({
    images: listImages(config.paths.imagesDir).map((i) => i.version),
    snapshots: (await zfs.snapshots(dataset)).map((s) => s.version),
    keepImages: config.space.keepImages,
    protectedVersions: [
      booted, readCommittedVersion(store, booted), active?.version ?? null, trial,
    ],
  });
  // Download files belong to one deployment; only the active one's may still be needed.
  const dl = config.paths.downloadsDir;
  const staleDownloads = existsSync(dl)
    ? readdirSync(dl).filter((f) => !active || !f.startsWith(`${active.id}-`)).map((f) => join(dl, f))
    : [];
  const result = { ...plan, staleDownloads };
  if (dryRun) return result;
  for (const v of plan.deleteImages) rmSync(join(config.paths.imagesDir, `${v}.img`), { force: true });
  for (const v of plan.destroySnapshots) await zfs.destroy(`${dataset}@${v}`);
  for (const f of staleDownloads) rmSync(f, { force: true });
  store.journal('cleanup', null, result);
  log.info(result, 'cleanup done');
  return result;
}
