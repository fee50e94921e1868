// `upgradectl cleanup`: applies the retention plan to /images and the pool, and drops stale download files.
import { readdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Agent } from '../../wiring.js';
import { planRetention } from '../../core/retention.js';
import { readBootedVersion, readCommittedVersion } from '../../core/device-facts.js';
import { listImages } from './status.js';

export async function cleanupCommand(agent: Agent, dryRun: boolean, json: boolean): Promise<string> {
  const { config, store, zfs, log } = agent;
  const dataset = `${config.zfs.pool}/${config.zfs.dataset}`;
  const active = store.active();
  const plan = planRetention({
    images: listImages(config.paths.imagesDir).map((i) => i.version),
    snapshots: (await zfs.snapshots(dataset)).map((s) => s.version),
    keepImages: config.space.keepImages,
    protectedVersions: [readBootedVersion(config), readCommittedVersion(store, config), active?.version ?? null],
  });
  // Download files belong to one deployment; only the active one's may still be needed.
  const dl = config.paths.downloadsDir;
  const staleDownloads = existsSync(dl)
    ? readdirSync(dl).filter((f) => !active || !f.startsWith(`${active.id}-`)).map((f) => join(dl, f))
    : [];
  if (!dryRun) {
    for (const v of plan.deleteImages) rmSync(join(config.paths.imagesDir, `${v}.img`), { force: true });
    for (const v of plan.destroySnapshots) await zfs.destroy(`${dataset}@${v}`);
    for (const f of staleDownloads) rmSync(f, { force: true });
    store.journal('cleanup', null, { ...plan, staleDownloads });
    log.info({ ...plan, staleDownloads }, 'cleanup done');
  }
  const out = { schema: 1, dryRun, ...plan, staleDownloads };
  if (json) return JSON.stringify(out, null, 2);
  return [
    `${dryRun ? 'would delete' : 'deleted'} images: ${plan.deleteImages.join(', ') || '-'}`,
    `${dryRun ? 'would destroy' : 'destroyed'} snapshots: ${plan.destroySnapshots.join(', ') || '-'}`,
    `${dryRun ? 'would remove' : 'removed'} downloads: ${staleDownloads.length}`,
  ].join('\n');
}
