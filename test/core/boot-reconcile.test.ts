// Boot reconciliation, table-driven: every switch phase against what actually booted.
import { describe, it, expect } from 'vitest';
import { reconcileBoot, type BootFacts } from '../../src/core/boot-reconcile.js';

const base: BootFacts = { phase: 'staged', targetVersion: 3, bootedVersion: 2, rebootedSince: false, trialArmed: true };

const cases: [string, Partial<BootFacts>, string][] = [
  ['ready is not a switch phase', { phase: 'ready' }, 'none'],
  ['committed is not a switch phase', { phase: 'committed', bootedVersion: 3 }, 'none'],
  ['migrating, same boot: stage again', { phase: 'migrating', trialArmed: false }, 'stage'],
  ['migrating, power cut after arming, trial came up: confirm', { phase: 'migrating', bootedVersion: 3, rebootedSince: true, trialArmed: false }, 'confirm'],
  ['migrating, rebooted on the old image: stage again', { phase: 'migrating', rebootedSince: true, trialArmed: false }, 'stage'],
  ['staged, same boot: reboot', {}, 'reboot'],
  ['staged, power cut, trial came up: confirm', { bootedVersion: 3, rebootedSince: true, trialArmed: false }, 'confirm'],
  ['staged, rebooted, trial consumed, old image: rolled back', { rebootedSince: true, trialArmed: false }, 'rolled-back'],
  ['staged, rebooted outside our Grub, trial still armed: reboot', { rebootedSince: true, trialArmed: true }, 'reboot'],
  ['rebooting, the reboot never happened: reboot again', { phase: 'rebooting' }, 'reboot'],
  ['rebooting, trial booted: confirm', { phase: 'rebooting', bootedVersion: 3, rebootedSince: true, trialArmed: false }, 'confirm'],
  ['rebooting, trial panicked, back on old: rolled back', { phase: 'rebooting', rebootedSince: true, trialArmed: false }, 'rolled-back'],
  ['confirming, trial running (crash mid-confirm): confirm', { phase: 'confirming', bootedVersion: 3, rebootedSince: true, trialArmed: false }, 'confirm'],
  ['confirming, health failed and rebooted to old: rolled back', { phase: 'confirming', rebootedSince: true, trialArmed: false }, 'rolled-back'],
  ['confirming, unknown image booted: rolled back', { phase: 'confirming', bootedVersion: null, rebootedSince: true, trialArmed: false }, 'rolled-back'],
];

describe('reconcileBoot', () => {
  it.each(cases)('%s', (_name, facts, kind) => {
    const a = reconcileBoot({ ...base, ...facts });
    expect(a.kind).toBe(kind);
    if (a.kind === 'rolled-back') expect(a.reason).toMatch(/3/);
  });
});
