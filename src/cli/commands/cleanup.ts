// `upgradectl cleanup`: shows (--dry-run) or applies the retention plan.
import type { Device } from '../../core/device.js';
import { applyRetention } from '../../core/cleanup.js';
import { withSchema } from '../status-view.js';

/** The TTY line, when there is one, follows the store through withDevice (src/wiring.ts). */
export async function cleanupCommand(device: Device, dryRun: boolean, json: boolean): Promise<string> {
  device.progress?.phase(dryRun ? 'cleanup: planning (dry run)' : 'cleanup: applying retention');
  const r = await applyRetention(device, dryRun);
  if (json) return JSON.stringify(withSchema({ dryRun, ...r }), null, 2);
  return [
    `${dryRun ? 'would delete' : 'deleted'} images: ${r.deleteImages.join(', ') || '-'}`,
    `${dryRun ? 'would destroy' : 'destroyed'} snapshots: ${r.destroySnapshots.join(', ') || '-'}`,
    `${dryRun ? 'would remove' : 'removed'} downloads: ${r.staleDownloads.length}`,
  ].join('\n');
}
