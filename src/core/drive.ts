// drive(): the one place that reads nextAction for the active deployment and performs it (the switch's imperative shell).
import type { Device } from './device.js';
import type { SwitchDecision } from './window.js';
import { nextAction, type BootNow } from './switch-policy.js';
import { rebootIntoTrial, stageOrFail, type SwitchOutcome } from './switch.js';
import { abandonTrial, confirmTrial, operatorRollback, rollBack } from './confirm.js';
import { windowDecision } from './window-gate.js';

/**
 * Who asks, and so which actions it may perform:
 *  - reconcile: every start (daemon, boot-time confirm, `confirm`): finish whatever the switch was doing, from what booted;
 *  - window: the daemon's turn for a ready deployment: switch inside the window when idle;
 *  - apply-now: `apply --now`: switch now (pre-flight still runs);
 *  - rollback: `upgradectl rollback`: give up an unconfirmed trial (disarm it, or reboot back to the committed image).
 * Prefetch steps are the runner's (src/core/runner.ts), not drive's.
 */
export type DriveIntent = 'reconcile' | 'window' | 'apply-now' | 'rollback';

/** What drive did; `decision` is the window's when it was asked (null: no ready deployment). */
export type DriveOutcome = SwitchOutcome & { decision?: SwitchDecision | null };

/** This boot's facts, read fresh: what booted, the boot id, the armed trial (Grub's files, through the port). */
export function bootNow(deps: Device): BootNow {
  return { bootedVersion: deps.boot.bootedVersion(), bootId: deps.boot.bootId(), trialArmed: deps.grub.trialArmed() };
}

/** Looks at nextAction and performs it. May end in a reboot (the rebooter does not return). */
export async function drive(deps: Device, intent: DriveIntent): Promise<DriveOutcome> {
  if (intent === 'rollback') return operatorRollback(deps);
  const d = deps.store.active();
  if (!d) return intent === 'reconcile' ? { kind: 'none', deployment: null } : { kind: 'none', deployment: null, decision: null };
  const action = nextAction(d, bootNow(deps));
  if (intent !== 'reconcile') {
    // Switching is for a ready deployment only; a switch already under way is reconciled at start, not re-applied.
    if (action.kind !== 'wait-window') return { kind: 'none', deployment: d, decision: null };
    const decision = await windowDecision(deps, intent === 'apply-now');
    if (decision?.action !== 'switch') return { kind: 'none', deployment: deps.store.active(), decision };
    await stageOrFail(deps, d.id);
    return rebootIntoTrial(deps, d.id);
  }
  deps.store.journal('boot-reconciled', d.id, { phase: d.phase, action });
  switch (action.kind) {
    case 'none':
    case 'step':
    case 'wait-window':
      return { kind: 'none', deployment: d };
    case 'confirm':
      return confirmTrial(deps, d.id);
    case 'rolled-back':
      return rollBack(deps, d, action.reason);
    case 'abandon':
      return abandonTrial(deps, d, action.reason);
    case 'stage':
      await stageOrFail(deps, d.id);
      return rebootIntoTrial(deps, d.id);
    case 'reboot':
      return rebootIntoTrial(deps, d.id);
  }
}
