// Switch verbs: apply [--now], confirm, rollback, grub-cfg --print.
import type { Config } from '../../config.js';
import { thawGrubFilesystem, wireAgent, wireSwitch } from '../../wiring.js';
import { drive } from '../../core/drive.js';
import { operatorRollback } from '../../core/confirm.js';
import { renderGrubCfg } from '../../core/switch-grub.js';
import { readCommittedVersion } from '../../core/device-facts.js';
import { acquireRunnerLock, waitForRunnerLock } from '../../daemon/lock.js';
import { UpgradeError } from '../../errors.js';
import { callDaemon, daemonRunning } from '../../daemon/control.js';
import { ttyProgress } from '../tty-progress.js';

/** How long `confirm` waits for another runner (the daemon's own start-up reconciliation) before failing. */
const CONFIRM_LOCK_WAIT_MS = 15 * 60_000;

async function withSwitch<T>(
  config: Config, fn: (deps: ReturnType<typeof wireSwitch>) => Promise<T>, release: () => void = acquireRunnerLock(config.paths.stateDir),
): Promise<T> {
  const agent = wireAgent(config);
  // The phases and events of the switch on a terminal's stderr (nothing when piped, or under systemd at boot).
  const progress = ttyProgress(process.stderr);
  const unfollow = progress?.follow(agent.store);
  // The sandbox "reboot" ends the process: release the lock and close the database first, as a real shutdown would.
  const deps = wireSwitch(agent, { powerOff: () => { progress?.end(); agent.close(); release(); process.exit(0); } });
  try {
    return await fn(deps);
  } finally {
    unfollow?.();
    progress?.end();
    agent.close();
    release();
  }
}

export async function switchCommand(command: 'apply' | 'confirm' | 'rollback' | 'grub-cfg', config: Config, now: boolean): Promise<string> {
  // One runner per device: when the daemon runs, it does the work.
  if (command !== 'grub-cfg' && (await daemonRunning(config.paths.socket))) {
    return JSON.stringify(await callDaemon(config.paths.socket, 'POST', `/${command}`, { now }));
  }
  switch (command) {
    case 'apply':
      return withSwitch(config, async (deps) => {
        const r = await drive(deps, now ? 'apply-now' : 'window');
        if (!r.decision) throw new UpgradeError('E_NO_DEPLOYMENT', 'no ready image to apply');
        return `${r.decision.action}: ${r.decision.reason} (next check ${r.decision.nextCheckAt.toISOString()})`;
      });
    case 'confirm': {
      await thawGrubFilesystem(config);
      // At boot the daemon starts alongside: whichever takes the lock confirms; if the daemon comes up meanwhile, it is asked.
      const got = await waitForRunnerLock(config.paths.stateDir, {
        timeoutMs: CONFIRM_LOCK_WAIT_MS,
        whileWaiting: async () =>
          (await daemonRunning(config.paths.socket)) ? JSON.stringify(await callDaemon(config.paths.socket, 'POST', '/confirm', { now })) : null,
      });
      if ('other' in got) return got.other;
      return withSwitch(config, async (deps) => {
        const r = await drive(deps, 'reconcile');
        return r.kind === 'none' ? 'nothing to confirm' : `${r.kind}: image ${r.deployment?.version}`;
      }, got.release);
    }
    case 'rollback':
      return withSwitch(config, async (deps) => {
        const r = await operatorRollback(deps);
        return `${r.kind}: image ${r.deployment?.version}`;
      });
    case 'grub-cfg': {
      const agent = wireAgent(config);
      try {
        const committed = readCommittedVersion(agent.store, config);
        if (committed === null) throw new UpgradeError('E_PREFLIGHT', 'no committed image is known');
        return renderGrubCfg(agent, committed);
      } finally {
        agent.close();
      }
    }
  }
}
