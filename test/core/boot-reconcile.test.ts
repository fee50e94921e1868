// Boot reconciliation, table-driven: every switch phase against what actually booted.
import { describe, it, expect } from 'vitest';
import { MAX_CONFIRM_ATTEMPTS, reconcileBoot, type BootFacts } from '../../src/core/boot-reconcile.js';

const base: BootFacts = { phase: 'staged', targetVersion: 3, bootedVersion: 2, rebootedSince: false, trialArmed: true, confirmAttempts: 0 };

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
  ['confirming, trial running, an earlier confirm never finished: confirm', { phase: 'confirming', bootedVersion: 3, rebootedSince: true, trialArmed: false, confirmAttempts: 1 }, 'confirm'],
  // grub.cfg may already default to the trial (cut after moving it): without a bound, every boot confirms again.
  ['confirming, trial running, confirm started too often: abandon', { phase: 'confirming', bootedVersion: 3, rebootedSince: true, trialArmed: false, confirmAttempts: 3 }, 'abandon'],
  ['confirming, trial running, same boot, confirm started too often: abandon', { phase: 'confirming', bootedVersion: 3, confirmAttempts: 3 }, 'abandon'],
  ['confirming, unknown image booted: rolled back', { phase: 'confirming', bootedVersion: null, rebootedSince: true, trialArmed: false }, 'rolled-back'],
];

describe('reconcileBoot', () => {
  it.each(cases)('%s', (_name, facts, kind) => {
    const a = reconcileBoot({ ...base, ...facts });
    expect(a.kind).toBe(kind);
    if (a.kind === 'rolled-back' || a.kind === 'abandon') expect(a.reason).toMatch(/3/);
  });

  it(`gives a running trial ${MAX_CONFIRM_ATTEMPTS} confirm attempts, whatever phase it was left in`, () => {
    expect(MAX_CONFIRM_ATTEMPTS).toBe(3);
    for (const phase of ['migrating', 'staged', 'rebooting', 'confirming'] as const) {
      const at = (confirmAttempts: number) => reconcileBoot({ ...base, phase, bootedVersion: 3, rebootedSince: true, trialArmed: false, confirmAttempts }).kind;
      expect([0, 1, 2].map(at)).toEqual(['confirm', 'confirm', 'confirm']);
      expect(at(3)).toBe('abandon');
    }
  });
});
