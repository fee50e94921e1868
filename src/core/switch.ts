// The switch: migrate config, write grub.cfg, arm a one-shot trial, reboot; after boot, confirm or record the fallback.
import { join } from 'node:path';
import type { RunnerDeps } from './runner.js';
import type { Deployment } from '../state/store.js';
import type { BootInfo, Rebooter } from '../adapters/boot.js';
import type { ImageMounter } from '../adapters/image-mount.js';
import type { BootFilesFlusher } from '../adapters/boot-flush.js';
import type { Phase } from './phases.js';
import { reconcileBoot } from './boot-reconcile.js';
import { readCommittedVersion } from './device-facts.js';
import { writeGrubCfg } from '../boot/grub-files.js';
import { armTrial, disarmTrial, readTrial } from '../boot/grubenv.js';
import { migrateIntoImage, planMigration, recoverInterruptedImage } from '../steps/migrate.js';
import { stat, statfs } from 'node:fs/promises';
import { runHealthChecks } from '../steps/health.js';
import { imageMatches } from '../steps/export.js';
import { checkBootFiles, checkEntryHasPanic, checkGrubenvWritable } from '../steps/preflight.js';
import { applyRetention } from './cleanup.js';
import { flushForGrub, renderGrubCfg } from './switch-grub.js';
import { sameIdentity, type FileIdentity } from '../util/file-identity.js';
import { asUpgradeError, UpgradeError } from '../errors.js';

export interface SwitchDeps extends RunnerDeps {
  boot: BootInfo;
  rebooter: Rebooter;
  mounter: ImageMounter;
  bootFlush: BootFilesFlusher;
  /** Named step boundaries; the crash tests kill the process at each one (a no-op otherwise). */
  crashPoint?: (name: string) => void;
}

const at = (deps: SwitchDeps, name: string): void => deps.crashPoint?.(name);

export type SwitchOutcome = { kind: 'none' | 'committed' | 'rolled_back' | 'staged'; deployment: Deployment | null };

const imagePathOf = (deps: SwitchDeps, version: number): string => join(deps.config.paths.imagesDir, `${version}.img`);

function committedOrFail(deps: SwitchDeps): number {
  const c = readCommittedVersion(deps.store, deps.config);
  if (c === null) throw new UpgradeError('E_PREFLIGHT', 'no committed image is known: nothing to fall back to');
  return c;
}

/** Phase + the boot id it was written in: after a restart, a different boot id means a reboot happened. */
function enter(deps: SwitchDeps, d: Deployment, phase: Phase, event: string, data: unknown = null): Deployment {
  return deps.store.transition(d.id, phase, { bootId: deps.boot.bootId() }, event, data);
}

/**
 * ready|migrating → migrating → staged. Pre-flight first (nothing is armed unless the device could boot it and
 * come back), then the migration (idempotent), then grub.cfg with the committed default, then the trial.
 */
export async function stageTrial(deps: SwitchDeps, id: number): Promise<Deployment> {
  const { config, log } = deps;
  let d = deps.store.get(id);
  const committed = committedOrFail(deps);
  const image = imagePathOf(deps, d.version);
  checkGrubenvWritable(config.paths.grubDir);
  if (d.phase === 'ready') {
    // The migration changes the image, so its signed hash can only be checked before the first one. The export
    // hashed it; unless the file changed since (inode, size, mtime, ctime), that proof still holds.
    const verified = deps.store.getMeta(`verified-image:${d.version}`);
    const unchanged = verified !== null && sameIdentity(JSON.parse(verified) as FileIdentity, image);
    if (!unchanged && !(await imageMatches(image, d.imageSize, d.imageSha256))) {
      throw new UpgradeError('E_PREFLIGHT', `${image} is missing or does not match the signed image`, { context: { image } });
    }
    deps.store.journal('image-verified', d.id, { how: unchanged ? 'unchanged since its verified export' : 'sha256' });
    d = enter(deps, d, 'migrating', 'switch:start', { committed });
    at(deps, 'migrating-recorded');
  } else if (d.phase === 'migrating') {
    d = enter(deps, d, 'migrating', 'switch:resume');
    // Cut mid-migration: the image's journal may need replaying before anything (even a read-only mount) can use it.
    const recovered = await recoverInterruptedImage({ mounter: deps.mounter, log }, image);
    deps.store.journal('image-recovered', d.id, recovered);
  }
  const mp = await deps.mounter.makeMountpoint();
  try {
    await deps.mounter.mount(image, mp, { readOnly: true });
    checkBootFiles(mp);
    await checkMigrationRoom(deps, mp);
  } finally {
    await deps.mounter.unmount(mp);
  }
  const report = await migrateIntoImage({ mounter: deps.mounter, log }, {
    imagePath: image, sourceRoot: config.migrate.sourceRoot, allow: config.migrate.allow, deny: config.migrate.deny, dryRun: false,
  });
  deps.store.journal('migrated', d.id, { counts: report.counts, recoveredMounts: report.recoveredMounts });
  at(deps, 'migrated');
  const cfg = renderGrubCfg(deps, committed);
  checkEntryHasPanic(cfg, d.version);
  writeGrubCfg(config.paths.grubDir, cfg);
  at(deps, 'grub-cfg-written');
  armTrial(config.paths.grubDir, d.version);
  await flushForGrub(deps, d.id, 'trial-armed');
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
export async function stageOrFail(deps: SwitchDeps, id: number): Promise<Deployment> {
  try {
    return await stageTrial(deps, id);
  } catch (raw) {
    const err = asUpgradeError(raw);
    disarmTrial(deps.config.paths.grubDir);
    await flushForGrub(deps, id, 'disarmed');
    deps.store.transition(id, 'failed', { reasonCode: err.code, reason: err.message }, 'switch:failed', { code: err.code, message: err.message, context: err.context });
    deps.log.error({ id, code: err.code, err: err.message }, 'switch failed before the reboot');
    throw err;
  }
}

/** Pre-flight: the files the migration would write fit in the image (plus a margin for directories and inodes). */
async function checkMigrationRoom(deps: SwitchDeps, imageRoot: string): Promise<void> {
  const m = deps.config.migrate;
  const plan = await planMigration({ sourceRoot: m.sourceRoot, allow: m.allow, deny: m.deny }, imageRoot);
  let need = 1 << 20;
  for (const e of plan.entries) {
    if (e.kind === 'file' && (e.action === 'create' || e.action === 'update')) need += (await stat(join(m.sourceRoot, e.path))).size;
  }
  const fs = await statfs(imageRoot);
  const free = fs.bavail * fs.bsize;
  if (free < need) {
    throw new UpgradeError('E_PREFLIGHT', `the image has ${free} bytes free, the migration needs ${need}`, { context: { free, need } });
  }
}

/** staged|rebooting → rebooting, then the reboot (never returns). */
export async function rebootIntoTrial(deps: SwitchDeps, id: number): Promise<never> {
  const d = enter(deps, deps.store.get(id), 'rebooting', 'switch:reboot');
  at(deps, 'rebooting-recorded');
  deps.log.info({ id, version: d.version }, 'rebooting into the trial');
  return deps.rebooter.reboot(`upgrade-agent: trial boot of image ${d.version}`);
}

/** The trial is running: health checks, then grub.cfg default → new image, then committed (in that order). */
export async function confirmTrial(deps: SwitchDeps, id: number): Promise<SwitchOutcome> {
  const { config, store, log } = deps;
  let d = store.get(id);
  if (d.phase !== 'confirming') d = enter(deps, d, 'confirming', 'confirm:start');
  at(deps, 'confirming-recorded');
  const report = await runHealthChecks(config.health);
  store.journal('health', d.id, report);
  at(deps, 'health-recorded');
  if (!report.ok) {
    const failed = report.results.filter((r) => !r.ok && r.kind !== 'wanted');
    const reason = `health checks failed: ${failed.map((r) => `${r.name} (${r.exitCode ?? 'no exit'}): ${r.output}`).join('; ')}`;
    store.update(d.id, { reasonCode: 'E_HEALTH', reason });
    log.error({ id, failed }, 'trial unhealthy: rebooting into the committed image');
    // Grub consumed the trial on this boot: the next boot takes the committed default.
    disarmTrial(config.paths.grubDir);
    await flushForGrub(deps, d.id, 'disarmed');
    return deps.rebooter.reboot(`upgrade-agent: image ${d.version} failed its health checks`);
  }
  // Crash after this write and before the commit below: the next start finds the trial running and confirms again.
  writeGrubCfg(config.paths.grubDir, renderGrubCfg(deps, d.version));
  await flushForGrub(deps, d.id, 'default-moved');
  at(deps, 'default-moved');
  store.setMeta('committed_version', String(d.version));
  const done = store.transition(d.id, 'committed', { reasonCode: null, reason: null }, 'confirm:committed', { health: 'ok' });
  log.info({ id, version: d.version }, 'image committed');
  // Old images are dead weight now; tidying is best effort and never undoes the commit.
  await applyRetention(deps, false).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'retention after commit failed'));
  return { kind: 'committed', deployment: done };
}

async function rollBack(deps: SwitchDeps, d: Deployment, reason: string): Promise<SwitchOutcome> {
  disarmTrial(deps.config.paths.grubDir);
  writeGrubCfg(deps.config.paths.grubDir, renderGrubCfg(deps, committedOrFail(deps)));
  await flushForGrub(deps, d.id, 'rolled-back');
  const prior = d.reasonCode === 'E_HEALTH' && d.reason ? `${d.reason}; ` : '';
  const done = deps.store.transition(d.id, 'rolled_back', { reasonCode: d.reasonCode === 'E_HEALTH' ? 'E_HEALTH' : 'E_TRIAL_FAILED', reason: `${prior}${reason}` }, 'rolled-back');
  deps.log.warn({ id: d.id, version: d.version, reason }, 'trial rolled back');
  return { kind: 'rolled_back', deployment: done };
}

/** On every start: look at what actually booted and finish whatever the switch was doing. */
export async function reconcileAfterStart(deps: SwitchDeps): Promise<SwitchOutcome> {
  const d = deps.store.active();
  if (!d) return { kind: 'none', deployment: null };
  const action = reconcileBoot({
    phase: d.phase,
    targetVersion: d.version,
    bootedVersion: deps.boot.bootedVersion(),
    rebootedSince: d.bootId !== null && d.bootId !== deps.boot.bootId(),
    trialArmed: readTrial(deps.config.paths.grubDir) === d.version,
  });
  deps.store.journal('boot-reconciled', d.id, { phase: d.phase, action });
  switch (action.kind) {
    case 'none':
      return { kind: 'none', deployment: d };
    case 'confirm':
      return confirmTrial(deps, d.id);
    case 'rolled-back':
      return rollBack(deps, d, action.reason);
    case 'stage':
      await stageOrFail(deps, d.id);
      return rebootIntoTrial(deps, d.id);
    case 'reboot':
      return rebootIntoTrial(deps, d.id);
  }
}

/** `upgradectl rollback`: give up an unconfirmed trial. Before the reboot it is disarmed; during it, reboot back. */
export async function operatorRollback(deps: SwitchDeps): Promise<SwitchOutcome> {
  const d = deps.store.active();
  if (!d || !['migrating', 'staged', 'rebooting', 'confirming'].includes(d.phase)) {
    throw new UpgradeError('E_NO_DEPLOYMENT', 'no trial to roll back');
  }
  if (deps.boot.bootedVersion() === d.version) {
    deps.store.update(d.id, { reasonCode: 'E_OPERATOR', reason: 'rolled back by the operator' });
    disarmTrial(deps.config.paths.grubDir);
    await flushForGrub(deps, d.id, 'disarmed');
    return deps.rebooter.reboot(`upgrade-agent: operator rolled back image ${d.version}`);
  }
  return rollBack(deps, d, 'rolled back by the operator before the trial boot');
}
