// The switch after the boot: confirm the running trial (health checks, grub.cfg's default, commit), record the
// fallback, or give the trial up; and the operator's rollback. Before the reboot: src/core/switch.ts; when: drive.ts.
import type { Device } from './device.js';
import type { Deployment } from '../state/store.js';
import type { GrubWrite } from '../boot/grub-port.js';
import { applyRetention } from './cleanup.js';
import { at, committedOrFail, enter, type SwitchOutcome } from './switch.js';
import { SWITCH_PHASES } from './phases.js';
import { UpgradeError } from '../errors.js';

/**
 * Whatever boots next is the committed image: the trial disarmed and grub.cfg's default the recorded committed image,
 * flushed for Grub. Every way a trial ends without a commit passes here before its reboot: grub.cfg may already
 * default to the trial (a cut between moving it and recording the commit), and a reboot would then boot it again.
 */
async function restoreCommittedBoot(deps: Device, why: GrubWrite): Promise<void> {
  await deps.grub.restoreCommitted(committedOrFail(deps), why);
}

/** The trial is running: health checks, then grub.cfg default → new image, then committed (in that order). */
export async function confirmTrial(deps: Device, id: number): Promise<SwitchOutcome> {
  const { store, log } = deps;
  const d0 = store.get(id);
  // Counted before the checks run, so one that hangs or kills the machine counts too (MAX_CONFIRM_ATTEMPTS bounds it).
  const attempt = d0.confirmAttempts + 1;
  const d = enter(deps, d0, 'confirming', 'confirm:start', { attempt }, { confirmAttempts: attempt });
  at(deps, 'confirming-recorded');
  const report = await deps.health.check();
  store.journal('health', d.id, report);
  at(deps, 'health-recorded');
  if (!report.ok) {
    const failed = report.results.filter((r) => !r.ok && r.kind !== 'wanted');
    const reason = `health checks failed: ${failed.map((r) => `${r.name} (${r.exitCode ?? 'no exit'}): ${r.output}`).join('; ')}`;
    store.update(d.id, { reasonCode: 'E_HEALTH', reason });
    log.error({ id, failed }, 'trial unhealthy: rebooting into the committed image');
    // Grub consumed the trial on this boot; the default must be the committed image too, then the next boot is.
    await restoreCommittedBoot(deps, 'unhealthy');
    return deps.rebooter.reboot(`upgrade-agent: image ${d.version} failed its health checks`);
  }
  // Crash after this write and before the commit below: the next start finds the trial running and confirms again
  // (or, should it fail then, puts the committed default back before its reboot).
  await deps.grub.setDefault(d.version, 'default-moved');
  at(deps, 'default-moved');
  // The committed image moves with the phase, in one transaction, and only after Grub's default did.
  const done = store.transition(d.id, 'committed', { reasonCode: null, reason: null }, 'confirm:committed', { health: 'ok' }, {
    committedVersion: d.version,
  });
  log.info({ id, version: d.version }, 'image committed');
  // Old images are dead weight now; tidying is best effort and never undoes the commit.
  await applyRetention(deps, false).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'retention after commit failed'));
  return { kind: 'committed', deployment: done };
}

export async function rollBack(deps: Device, d: Deployment, reason: string): Promise<SwitchOutcome> {
  await restoreCommittedBoot(deps, 'rolled-back');
  const prior = d.reasonCode === 'E_HEALTH' && d.reason ? `${d.reason}; ` : '';
  const done = deps.store.transition(d.id, 'rolled_back', { reasonCode: d.reasonCode === 'E_HEALTH' ? 'E_HEALTH' : 'E_TRIAL_FAILED', reason: `${prior}${reason}` }, 'rolled-back');
  deps.log.warn({ id: d.id, version: d.version, reason }, 'trial rolled back');
  return { kind: 'rolled_back', deployment: done };
}

/**
 * The trial runs but was started too often without a verdict. Unlike the other fallbacks, `rolled_back` is recorded
 * before the reboot (after Grub's files point at the committed image): the deployment ends within a bounded number
 * of boots even if that reboot landed on the trial again.
 */
export async function abandonTrial(deps: Device, d: Deployment, reason: string): Promise<never> {
  await rollBack(deps, d, reason);
  return deps.rebooter.reboot(`upgrade-agent: image ${d.version} given up: ${reason}`);
}

/** `upgradectl rollback`: give up an unconfirmed trial. Before the reboot it is disarmed; during it, reboot back. */
export async function operatorRollback(deps: Device): Promise<SwitchOutcome> {
  const d = deps.store.active();
  if (!d || !SWITCH_PHASES.has(d.phase)) {
    throw new UpgradeError('E_NO_DEPLOYMENT', 'no trial to roll back');
  }
  if (deps.boot.bootedVersion() === d.version) {
    deps.store.update(d.id, { reasonCode: 'E_OPERATOR', reason: 'rolled back by the operator' });
    await restoreCommittedBoot(deps, 'disarmed');
    return deps.rebooter.reboot(`upgrade-agent: operator rolled back image ${d.version}`);
  }
  return rollBack(deps, d, 'rolled back by the operator before the trial boot');
}
