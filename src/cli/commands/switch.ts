// Switch verbs: apply [--now], confirm, rollback, grub-cfg --print.
import type { Config } from '../../config.js';
import { withDevice, type WiringOptions } from '../../wiring.js';
import { drive } from '../../core/drive.js';
import { renderGrubCfg } from '../../core/switch-grub.js';
import { readCommittedVersion } from '../../core/device-facts.js';
import { UpgradeError } from '../../errors.js';
import { callDaemon, daemonRunning } from '../../daemon/control.js';
import { ttyProgress } from '../tty-progress.js';

/** How long `confirm` waits for another runner (the daemon's own start-up reconciliation) before failing. */
const CONFIRM_LOCK_WAIT_MS = 15 * 60_000;

export async function switchCommand(
  command: 'apply' | 'confirm' | 'rollback' | 'grub-cfg', config: Config, now: boolean, wiring: WiringOptions = {},
): Promise<string> {
  // One runner per device: when the daemon runs, it does the work.
  if (command !== 'grub-cfg' && (await daemonRunning(config.paths.socket))) {
    return JSON.stringify(await callDaemon(config.paths.socket, 'POST', `/${command}`, { now }));
  }
  // The phases and events of the switch on a terminal's stderr (nothing when piped, or under systemd at boot).
  const progress = command === 'grub-cfg' ? null : ttyProgress(process.stderr);
  switch (command) {
    case 'apply':
      return withDevice(config, { lock: 'take', progress }, async (device) => {
        const r = await drive(device, now ? 'apply-now' : 'window');
        if (!r.decision) throw new UpgradeError('E_NO_DEPLOYMENT', 'no ready image to apply');
        return `${r.decision.action}: ${r.decision.reason} (next check ${r.decision.nextCheckAt.toISOString()})`;
      }, wiring);
    case 'confirm': {
      // At boot the daemon starts alongside: whichever takes the lock confirms; if the daemon comes up meanwhile, it is asked.
      const lock = {
        timeoutMs: CONFIRM_LOCK_WAIT_MS,
        whileWaiting: async () =>
          (await daemonRunning(config.paths.socket)) ? JSON.stringify(await callDaemon(config.paths.socket, 'POST', '/confirm', { now })) : null,
      };
      return withDevice(config, { thaw: true, lock, progress }, async (device) => {
        const r = await drive(device, 'reconcile');
        return r.kind === 'none' ? 'nothing to confirm' : `${r.kind}: image ${r.deployment?.version}`;
      }, wiring);
    }
    case 'rollback':
      return withDevice(config, { lock: 'take', progress }, async (device) => {
        const r = await drive(device, 'rollback');
        return `${r.kind}: image ${r.deployment?.version}`;
      }, wiring);
    case 'grub-cfg':
      // Read-only (grub.d's script runs it while the daemon may hold the lock).
      return withDevice(config, { lock: 'none' }, async (device) => {
        const committed = readCommittedVersion(device.store, device.boot.bootedVersion());
        if (committed === null) throw new UpgradeError('E_PREFLIGHT', 'no committed image is known');
        return renderGrubCfg(device, committed);
      }, wiring);
  }
}
