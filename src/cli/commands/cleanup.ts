// `upgradectl cleanup`: shows (--dry-run) or applies the retention plan.
import type { Device } from '../../core/device.js';
import { applyRetention } from '../../core/cleanup.js';

export async function cleanupCommand(device: Device, dryRun: boolean, json: boolean): Promise<string> {
  const r = await applyRetention(device, dryRun);
  if (json) return JSON.stringify({ schema: 1, dryRun, ...r }, null, 2);
  return [
    `${dryRun ? 'would delete' : 'deleted'} images: ${r.deleteImages.join(', ') || '-'}`,
    `${dryRun ? 'would destroy' : 'destroyed'} snapshots: ${r.destroySnapshots.join(', ') || '-'}`,
    `${dryRun ? 'would remove' : 'removed'} downloads: ${r.staleDownloads.length}`,
  ].join('\n');
}
