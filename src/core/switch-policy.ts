// The switch's spine as data: its steps and their crash points, and one resume policy for every phase (nextAction).
import { SWITCH_PHASES, resumeAction, type Phase, type StepName } from './phases.js';
import { reconcileBoot } from './boot-reconcile.js';
import type { Deployment } from '../state/store.js';

/**
 * The switch's steps, as STEPS is the prefetch's: the phases it starts from, the intent phase written before its
 * effects, the phase it ends in, and its named crash points in the order the code passes them (the crash tests and the
 * in-process matrix kill the agent at each one). Reboot ends in the next boot, whose start confirms.
 */
export const SWITCH_STEPS = {
  stage: {
    from: ['ready', 'migrating'], during: 'migrating', done: 'staged',
    crashPoints: ['migrating-recorded', 'migrated', 'grub-cfg-written', 'trial-armed', 'staged-recorded'],
  },
  reboot: { from: ['staged', 'rebooting'], during: 'rebooting', done: 'confirming', crashPoints: ['rebooting-recorded'] },
  confirm: {
    from: ['migrating', 'staged', 'rebooting', 'confirming'], during: 'confirming', done: 'committed',
    crashPoints: ['confirming-recorded', 'health-recorded', 'default-moved'],
  },
} as const satisfies Record<string, { from: readonly Phase[]; during: Phase; done: Phase; crashPoints: readonly string[] }>;

export type SwitchStepName = keyof typeof SWITCH_STEPS;
export type SwitchCrashPoint = (typeof SWITCH_STEPS)[SwitchStepName]['crashPoints'][number];

/** Every crash point of the switch and the confirm, in order. */
export const SWITCH_CRASH_POINTS: readonly SwitchCrashPoint[] = Object.values(SWITCH_STEPS).flatMap((s) => s.crashPoints);

/**
 * What an in-process crash hook throws at a crash point instead of SIGKILL (the drive matrix's fakes): the process
 * ends here. Code that catches errors to record them rethrows it, so nothing is recorded that a killed process could
 * not have recorded.
 */
export class ProcessEnd extends Error {}

export function isSwitchCrashPoint(name: string): name is SwitchCrashPoint {
  return (SWITCH_CRASH_POINTS as readonly string[]).includes(name);
}

/** The step a crash point belongs to. */
export function stepOfCrashPoint(p: SwitchCrashPoint): SwitchStepName {
  return (Object.keys(SWITCH_STEPS) as SwitchStepName[]).find((k) => (SWITCH_STEPS[k].crashPoints as readonly string[]).includes(p))!;
}

/** What is true about this boot, read fresh at every start (never what we hoped would boot). */
export interface BootNow {
  /** The image the device booted (kernel command line). */
  bootedVersion: number | null;
  bootId: string;
  /** The version the armed one-shot trial would boot (grubenv), or null. */
  trialArmed: number | null;
}

export type NextAction =
  /** A prefetch step (the runner performs it). */
  | { kind: 'step'; step: StepName; recovering: boolean }
  /** Ready: the window gate decides when (or `apply --now`). */
  | { kind: 'wait-window' }
  /** Continue or redo migrate + stage (idempotent) in this boot, then reboot into the trial. */
  | { kind: 'stage' }
  /** The trial is armed and this boot is still the old one: reboot into it. */
  | { kind: 'reboot' }
  /** The trial image is running: health checks, then commit. */
  | { kind: 'confirm' }
  /** The device came back on another image: the trial did not survive. */
  | { kind: 'rolled-back'; reason: string }
  /** The trial runs but was started too often without a verdict: give it up, reboot into the committed image. */
  | { kind: 'abandon'; reason: string }
  | { kind: 'none' };

export type NextActionKind = NextAction['kind'];

/**
 * The one resume policy: what to do with the active deployment (or none) given this boot's facts, for every phase.
 * Prefetch phases follow STEPS (resumeAction); switch phases are decided from what actually booted (reconcileBoot).
 */
export function nextAction(d: Pick<Deployment, 'phase' | 'version' | 'bootId' | 'confirmAttempts'> | null, boot: BootNow): NextAction {
  if (d === null) return { kind: 'none' };
  if (!SWITCH_PHASES.has(d.phase)) {
    const a = resumeAction(d.phase);
    return a.kind === 'switch-owned' ? { kind: 'none' } : a;
  }
  // Its kinds are persisted in `boot-reconciled` journal rows: the same names as reconcileBoot's.
  return reconcileBoot({
    phase: d.phase,
    targetVersion: d.version,
    bootedVersion: boot.bootedVersion,
    rebootedSince: d.bootId !== null && d.bootId !== boot.bootId,
    trialArmed: boot.trialArmed === d.version,
    confirmAttempts: d.confirmAttempts,
  });
}
