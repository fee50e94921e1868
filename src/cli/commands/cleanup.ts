// `upgradectl cleanup`: shows (--dry-run) or applies the retention plan.
import type { Agent } from '../../wiring.js';
import { applyRetention, type CleanupResult } from '../../core/cleanup.js';
import type { TtyProgress } from '../tty-progress.js';
import { withSchema } from '../status-view.js';

export async function cleanupCommand(agent: Agent, dryRun: boolean, json: boolean, progress: TtyProgress | null = null): Promise<string> {
  progress?.phase(dryRun ? 'cleanup: planning (dry run)' : 'cleanup: applying retention');
  const unfollow = progress?.follow(agent.store);
  let r: CleanupResult;
  try {
    r = await applyRetention(agent, dryRun);
  } finally {
    unfollow?.();
    progress?.end();
  }
  if (json) return JSON.stringify(withSchema({ dryRun, ...r }), null, 2);
  return [
    `${dryRun ? 'would delete' : 'deleted'} images: ${r.deleteImages.join(', ') || '-'}`,
    `${dryRun ? 'would destroy' : 'destroyed'} snapshots: ${r.destroySnapshots.join(', ') || '-'}`,
    `${dryRun ? 'would remove' : 'removed'} downloads: ${r.staleDownloads.length}`,
  ].join('\n');
}
