// The one resume policy, as a table generated from PHASES: every phase × boot facts has a row (a new phase fails here).
import { describe, it, expect } from 'vitest';
import { PHASES, SWITCH_PHASES, TERMINAL, canTransition, type Phase } from '../../src/core/phases.js';
import { MAX_CONFIRM_ATTEMPTS } from '../../src/core/boot-reconcile.js';
import {
  SWITCH_CRASH_POINTS, SWITCH_STEPS, nextAction, stepOfCrashPoint, type BootNow, type NextActionKind,
} from '../../src/core/switch-policy.js';

/** The deployment targets 3; the committed image is 2. `boot-1` is the boot its phase was written in. */
const BOOTS = {
  'same boot, on 2, trial armed': { bootedVersion: 2, bootId: 'boot-1', trialArmed: 3, attempts: 0 },
  'same boot, on 2, nothing armed': { bootedVersion: 2, bootId: 'boot-1', trialArmed: null, attempts: 0 },
  'rebooted, on 2, trial still armed': { bootedVersion: 2, bootId: 'boot-2', trialArmed: 3, attempts: 0 },
  'rebooted, on 2, trial consumed': { bootedVersion: 2, bootId: 'boot-2', trialArmed: null, attempts: 0 },
  'rebooted, unknown image': { bootedVersion: null, bootId: 'boot-2', trialArmed: null, attempts: 0 },
  'rebooted, 3 runs, first attempt': { bootedVersion: 3, bootId: 'boot-2', trialArmed: null, attempts: 0 },
  [`rebooted, 3 runs, ${MAX_CONFIRM_ATTEMPTS} attempts started`]: { bootedVersion: 3, bootId: 'boot-2', trialArmed: null, attempts: MAX_CONFIRM_ATTEMPTS },
} as const satisfies Record<string, BootNow & { attempts: number }>;
type BootCase = keyof typeof BOOTS;

const row = (...kinds: NextActionKind[]): Record<BootCase, NextActionKind> =>
  Object.fromEntries((Object.keys(BOOTS) as BootCase[]).map((b, i) => [b, kinds[i]!])) as Record<BootCase, NextActionKind>;
const all = (k: NextActionKind) => row(k, k, k, k, k, k, k);

/** Columns in BOOTS order. Record<Phase, …>: a phase added to PHASES without a row does not even compile. */
const EXPECTED: Record<Phase, Record<BootCase, NextActionKind>> = {
  pending: all('step'),
  downloading: all('step'),
  downloaded: all('step'),
  importing: all('step'),
  imported: all('step'),
  exporting: all('step'),
  ready: all('wait-window'),
  migrating: row('stage', 'stage', 'stage', 'stage', 'stage', 'confirm', 'abandon'),
  staged: row('reboot', 'reboot', 'reboot', 'rolled-back', 'rolled-back', 'confirm', 'abandon'),
  rebooting: row('reboot', 'reboot', 'reboot', 'rolled-back', 'rolled-back', 'confirm', 'abandon'),
  confirming: row('rolled-back', 'rolled-back', 'rolled-back', 'rolled-back', 'rolled-back', 'confirm', 'abandon'),
  committed: all('none'),
  failed: all('none'),
  rolled_back: all('none'),
  cancelled: all('none'),
};

describe('nextAction', () => {
  it('has a row for every phase', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...PHASES].sort());
  });

  const cases = PHASES.flatMap((phase) => (Object.keys(BOOTS) as BootCase[]).map((b) => [phase, b] as const));
  it.each(cases)('%s, %s', (phase, b) => {
    const { attempts, ...boot } = BOOTS[b];
    const a = nextAction({ phase, version: 3, bootId: 'boot-1', confirmAttempts: attempts }, boot);
    expect(a.kind).toBe(EXPECTED[phase][b]);
    if (a.kind === 'rolled-back' || a.kind === 'abandon') expect(a.reason).toMatch(/\b3\b/);
  });

  it('names the prefetch step and whether it recovers', () => {
    const boot = BOOTS['same boot, on 2, nothing armed'];
    expect(nextAction({ phase: 'importing', version: 3, bootId: null, confirmAttempts: 0 }, boot)).toEqual({ kind: 'step', step: 'import', recovering: true });
  });

  it('does nothing without an active deployment', () => {
    expect(nextAction(null, BOOTS['same boot, on 2, trial armed'])).toEqual({ kind: 'none' });
  });
});

describe('SWITCH_STEPS', () => {
  it('walks only legal edges, inside the switch', () => {
    for (const step of Object.values(SWITCH_STEPS)) {
      for (const from of step.from) if (from !== step.during) expect(canTransition(from, step.during), `${from} → ${step.during}`).toBe(true);
      expect(SWITCH_PHASES.has(step.during)).toBe(true);
      expect(canTransition(step.during, step.done) || step.during === step.done).toBe(true);
    }
    expect(TERMINAL.has(SWITCH_STEPS.confirm.done)).toBe(true);
  });

  it('names every crash point once, each in one step', () => {
    expect(new Set(SWITCH_CRASH_POINTS).size).toBe(SWITCH_CRASH_POINTS.length);
    expect(SWITCH_CRASH_POINTS.length).toBe(9);
    expect(stepOfCrashPoint('default-moved')).toBe('confirm');
    expect(stepOfCrashPoint('trial-armed')).toBe('stage');
  });
});
