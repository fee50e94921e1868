// check-in / prepare in this process when no daemon runs: recover first, then one pass, waiting out "come back later".
import type { Config } from '../../config.js';
import { withDevice, type WiringOptions } from '../../wiring.js';
import { Runner } from '../../core/runner.js';
import { checkInCycle } from '../../core/checkin-cycle.js';
import { prepare, advanceUntilSettled } from '../../core/prepare.js';
import { prepareBundle } from '../../core/bundle.js';
import { resumeAction } from '../../core/phases.js';
import type { TtyProgress } from '../tty-progress.js';

/** What `prepare` prepares: a signed manifest by URL, or an offline bundle file (absolute path). */
export type PrepareTarget = { manifestUrl: string } | { bundle: string };

/** `progress`: the TTY line (phases from the store, the download's bytes), or null when stderr is not a terminal. */
export async function runLocally(
  config: Config, command: 'check-in' | 'prepare', target: PrepareTarget | undefined, allowDowngrade: boolean,
  progress: TtyProgress | null = null, wiring: WiringOptions = {},
): Promise<unknown> {
  return withDevice(config, { lock: 'take', progress }, async (device) => {
    const recovered = new Runner(device).recover();
    // Interrupted work is finished before anything new is taken on.
    if (recovered && resumeAction(recovered.phase).kind === 'step') await advanceUntilSettled(device, recovered.id, { waitRetryLater: true });
    if (command === 'prepare' && target && 'bundle' in target) return prepareBundle(device, target.bundle, { allowDowngrade, waitRetryLater: true });
    if (command === 'prepare' && target && 'manifestUrl' in target) return prepare(device, target.manifestUrl, { allowDowngrade, waitRetryLater: true });
    return checkInCycle(device, { waitRetryLater: true });
  }, wiring);
}
