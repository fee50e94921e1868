// The transition table and resume policy: every persisted phase has an explicit, tested answer.
import { describe, it, expect } from 'vitest';
import { PHASES, STEPS, TERMINAL, canTransition, resumeAction, loopBreakerTripped, isReplaceable } from '../../src/core/phases.js';

describe('phases', () => {
  it('gives every phase a resume action, and terminal phases none', () => {
    for (const p of PHASES) {
      const a = resumeAction(p);
      expect(a.kind === 'none').toBe(TERMINAL.has(p));
    }
  });

  it('resumes each prefetch phase with its step, marking in-progress phases as recovery', () => {
    expect(resumeAction('pending')).toEqual({ kind: 'step', step: 'download', recovering: false });
    expect(resumeAction('downloading')).toEqual({ kind: 'step', step: 'download', recovering: true });
    expect(resumeAction('downloaded')).toEqual({ kind: 'step', step: 'import', recovering: false });
    expect(resumeAction('importing')).toEqual({ kind: 'step', step: 'import', recovering: true });
    expect(resumeAction('imported')).toEqual({ kind: 'step', step: 'export', recovering: false });
    expect(resumeAction('exporting')).toEqual({ kind: 'step', step: 'export', recovering: true });
    expect(resumeAction('ready')).toEqual({ kind: 'wait-window' });
    expect(resumeAction('rebooting')).toEqual({ kind: 'switch-owned' });
  });

  it('allows each step its intent and result edges and nothing backwards', () => {
    for (const step of Object.values(STEPS)) {
      for (const from of step.from) expect(canTransition(from, step.during)).toBe(true);
      expect(canTransition(step.during, step.done)).toBe(true);
      expect(canTransition(step.done, step.from[0])).toBe(false);
    }
    for (const t of TERMINAL) for (const p of PHASES) expect(canTransition(t, p)).toBe(false);
    expect(canTransition('pending', 'ready')).toBe(false);
  });

  it('trips the loop breaker only past the limit', () => {
    expect(loopBreakerTripped(3, 3)).toBe(false);
    expect(loopBreakerTripped(4, 3)).toBe(true);
  });

  it('lets a newer target replace only deployments that armed nothing', () => {
    expect(isReplaceable('ready')).toBe(true);
    expect(isReplaceable('staged')).toBe(false);
    expect(isReplaceable('committed')).toBe(false);
  });
});
