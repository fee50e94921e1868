// The deployment state machine as data: persisted phase names, legal transitions, steps and the resume policy.

/** Persisted names: never rename or reuse one (an older agent after a fallback reads the same rows). */
export const PHASES = [
  'pending',
  'downloading',
  'downloaded',
  'importing',
  'imported',
  'exporting',
  'ready',
  'migrating',
  'staged',
  'rebooting',
  'confirming',
  'committed',
  'failed',
  'rolled_back',
  'cancelled',
] as const;

export type Phase = (typeof PHASES)[number];

export const TERMINAL: ReadonlySet<Phase> = new Set<Phase>(['committed', 'failed', 'rolled_back', 'cancelled']);

/** The switch owns these: from the migration until the trial is committed or rolled back. */
export const SWITCH_PHASES: ReadonlySet<Phase> = new Set<Phase>(['migrating', 'staged', 'rebooting', 'confirming']);

/** Steps the prefetch runner performs: intent phase written before the effect, done phase after it. */
export const STEPS = {
  download: { from: ['pending', 'downloading'], during: 'downloading', done: 'downloaded' },
  import: { from: ['downloaded', 'importing'], during: 'importing', done: 'imported' },
  export: { from: ['imported', 'exporting'], during: 'exporting', done: 'ready' },
} as const satisfies Record<string, { from: readonly Phase[]; during: Phase; done: Phase }>;

export type StepName = keyof typeof STEPS;

/** Every legal edge. Anything else is a bug and is refused by the store. */
export const TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = {
  pending: ['downloading', 'failed', 'cancelled'],
  downloading: ['downloading', 'downloaded', 'failed', 'cancelled'],
  downloaded: ['importing', 'failed', 'cancelled'],
  importing: ['importing', 'imported', 'failed', 'cancelled'],
  imported: ['exporting', 'failed', 'cancelled'],
  exporting: ['exporting', 'ready', 'failed', 'cancelled'],
  ready: ['migrating', 'failed', 'cancelled'],
  migrating: ['migrating', 'staged', 'confirming', 'failed', 'rolled_back'],
  staged: ['rebooting', 'confirming', 'failed', 'rolled_back'],
  rebooting: ['rebooting', 'confirming', 'rolled_back', 'failed'],
  confirming: ['confirming', 'committed', 'rolled_back', 'failed'],
  committed: [],
  failed: [],
  rolled_back: [],
  cancelled: [],
};

export function canTransition(from: Phase, to: Phase): boolean {
  return TRANSITIONS[from].includes(to);
}

export type ResumeAction =
  | { kind: 'step'; step: StepName; recovering: boolean }
  | { kind: 'wait-window' }
  | { kind: 'switch-owned' }
  | { kind: 'none' };

/**
 * What to do with a deployment found in `phase` when the agent (re)starts or wakes up. `recovering` marks
 * phases that mean an effect was started and its result never recorded: those count toward the loop breaker.
 *  - pending/downloading: download; a partial file resumes by HTTP Range with the saved validator.
 *  - downloaded/importing: import; verify first, skip if the snapshot exists, else recv again from the start.
 *  - imported/exporting: export; a valid image already in place is kept, a .partial is deleted and redone.
 *  - ready: wait for the switch window.
 *  - migrating..confirming: owned by the switch (boot-time reconciliation looks at what actually booted).
 *  - terminal: nothing.
 */
export function resumeAction(phase: Phase): ResumeAction {
  if (TERMINAL.has(phase)) return { kind: 'none' };
  if (phase === 'ready') return { kind: 'wait-window' };
  for (const [name, step] of Object.entries(STEPS) as [StepName, (typeof STEPS)[StepName]][]) {
    if ((step.from as readonly Phase[]).includes(phase)) return { kind: 'step', step: name, recovering: phase === step.during };
  }
  return { kind: 'switch-owned' };
}

/** Loop breaker: a deployment that keeps crashing the agent in the same place is failed, not retried forever. */
export function loopBreakerTripped(resumes: number, maxResumes: number): boolean {
  return resumes > maxResumes;
}

/** Phases in which a newer target may replace this deployment (nothing on the boot path is armed yet). */
export function isReplaceable(phase: Phase): boolean {
  return ['pending', 'downloading', 'downloaded', 'importing', 'imported', 'exporting', 'ready'].includes(phase);
}
