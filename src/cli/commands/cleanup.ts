// `upgradectl cleanup`: shows (--dry-run) or applies the retention plan.
import type { Agent } from '../../wiring.js';
import { applyRetention } from '../../core/cleanup.js';

export async function cleanupCommand(agent: Agent, dryRun: boolean, json: boolean): Promise<string> {
  const r = await applyRetention(agent, dryRun);
  if (json) return JSON.stringify({ schema: 1, dryRun, ...r }, null, 2);
  return [
    `${dryRun ? 'would delete' : 'deleted'} images: ${r.deleteImages.join(', ') || '-'}`,
    `${dryRun ? 'would destroy' : 'destroyed'} snapshots: ${r.destroySnapshots.join(', ') || '-'}`,
    `${dryRun ? 'would remove' : 'removed'} downloads: ${r.staleDownloads.length}`,
  ].join('\n');
}
