// The switch up to the reboot: record the fallback, migrate config, write grub.cfg, arm a one-shot trial, reboot.
// After the boot: src/core/confirm.ts.
import { join } from 'node:path';
import type { Device } from './device.js';
import type { Deployment, DeploymentPatch, JournalEvent } from '../state/store.js';
import type { Phase } from './phases.js';
import { ProcessEnd, type SwitchCrashPoint } from './switch-policy.js';
import { readCommittedVersion } from './device-facts.js';
import { imageMatches } from '../steps/export.js';
import { sameIdentity } from '../util/file-identity.js';
import { asUpgradeError, UpgradeError } from '../errors.js';

export const at = (deps: Device, name: SwitchCrashPoint): void => deps.crashPoint?.(name);

export type SwitchOutcome = { kind: 'none' | 'committed' | 'rolled_back' | 'staged'; deployment: Deployment | null };

const imagePathOf = (deps: Device, version: number): string => join(deps.config.paths.imagesDir, `${version}.img`);

export function committedOrFail(deps: Device): number {
  const c = readCommittedVersion(deps.store, deps.boot.bootedVersion());
  if (c === null) throw new UpgradeError('E_PREFLIGHT', 'no committed image is known: nothing to fall back to');
  return c;
}

/** Phase + the boot id it was written in: after a restart, a different boot id means a reboot happened. */
export function enter(deps: Device, d: Deployment, phase: Phase, event: JournalEvent, data: unknown = null, patch: DeploymentPatch = {}): Deployment {
  return deps.store.transition(d.id, phase, { ...patch, bootId: deps.boot.bootId() }, event, data);
}

/**
 * ready|migrating → migrating → staged. The fallback recorded first, then pre-flight (nothing is armed unless the
 * device could boot it and come back), the migration (idempotent), grub.cfg with the committed default, the trial.
 */
export async function stageTrial(deps: Device, id: number): Promise<Deployment> {
  const { log } = deps;
  let d = deps.store.get(id);
  const committed = committedOrFail(deps);
  if (deps.store.committedVersion() === null) {
    // Before the first commit nothing records the fallback, and "the booted image" becomes the trial once it boots
    // (retention and check-in would take it for the committed one). From here it moves only with a commit.
    deps.store.recordCommittedVersion(committed);
    deps.store.journal('committed-recorded', d.id, { committed, how: 'the booted image, before the first trial' });
  }
  const image = imagePathOf(deps, d.version);
  deps.grub.checkWritable();
  if (d.phase === 'ready') {
    // The migration changes the image, so its signed hash can only be checked before the first one. The export
    // hashed it; unless the file changed since (inode, size, mtime, ctime), that proof still holds.
    const verified = deps.store.verifiedImage(d.version);
    const unchanged = verified !== null && sameIdentity(verified, image);
    if (!unchanged && !(await imageMatches(image, d.imageSize, d.imageSha256))) {
      throw new UpgradeError('E_PREFLIGHT', `${image} is missing or does not match the signed image`, { context: { image } });
    }
    deps.store.journal('image-verified', d.id, { how: unchanged ? 'unchanged since its verified export' : 'sha256' });
    d = enter(deps, d, 'migrating', 'switch:start', { committed });
    at(deps, 'migrating-recorded');
  } else if (d.phase === 'migrating') {
    d = enter(deps, d, 'migrating', 'switch:resume');
    // Cut mid-migration: the image's journal may need replaying before anything (even a read-only mount) can use it.
    deps.store.journal('image-recovered', d.id, await deps.stager.recover(image));
  }
  await deps.stager.preflight(image);
  const report = await deps.stager.migrate(image);
  deps.store.journal('migrated', d.id, { counts: report.counts, recoveredMounts: report.recoveredMounts });
  at(deps, 'migrated');
  // grub.cfg with the committed default first, the trial armed last (the port flushes both for Grub).
  await deps.grub.armTrial(d.version, committed, () => at(deps, 'grub-cfg-written'));
  log.info({ id, version: d.version, committed }, 'trial armed');
  at(deps, 'trial-armed');
  const staged = enter(deps, d, 'staged', 'switch:staged');
  at(deps, 'staged-recorded');
  return staged;
}

/**
 * Stages, or records why it could not: every failure comes before the trial is armed (arming is the last write), so
 * the device keeps booting its committed image and the deployment ends `failed` with the code. Without this, a
 * deployment cut in `migrating` whose staging fails for good was retried at every start, the service crash-looping.
 */
export async function stageOrFail(deps: Device, id: number): Promise<Deployment> {
  try {
    return await stageTrial(deps, id);
  } catch (raw) {
    if (raw instanceof ProcessEnd) throw raw;
    const err = asUpgradeError(raw);
    await deps.grub.disarm('disarmed');
    deps.store.transition(id, 'failed', { reasonCode: err.code, reason: err.message }, 'switch:failed', { code: err.code, message: err.message, context: err.context });
    deps.log.error({ id, code: err.code, err: err.message }, 'switch failed before the reboot');
    throw err;
  }
}

/** staged|rebooting → rebooting, then the reboot (never returns). */
export async function rebootIntoTrial(deps: Device, id: number): Promise<never> {
  const d = enter(deps, deps.store.get(id), 'rebooting', 'switch:reboot');
  at(deps, 'rebooting-recorded');
  deps.log.info({ id, version: d.version }, 'rebooting into the trial');
  return deps.rebooter.reboot(`upgrade-agent: trial boot of image ${d.version}`);
}
