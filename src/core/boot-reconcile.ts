// After any (re)start during a switch: decide from what actually booted, never from what we hoped would boot.
import { SWITCH_PHASES, type Phase } from './phases.js';

/**
 * Confirm attempts a running trial gets (each counted before its health checks). Once grub.cfg defaults to the trial (a
 * cut between moving it and recording the commit), nothing else stops a check that hangs or kills the machine from
 * booting the trial again and again; past this, the trial is given up and the device reboots into the committed image.
 */
export const MAX_CONFIRM_ATTEMPTS = 3;

export interface BootFacts {
  phase: Phase;
  targetVersion: number;
  /** The image the device booted (kernel command line). */
  bootedVersion: number | null;
  /** True when the boot id differs from the one recorded when the switch phase was written. */
  rebootedSince: boolean;
  /** True while grubenv still holds next_entry for the target (Grub consumes it on the trial boot). */
  trialArmed: boolean;
  /** Confirm attempts already started for this deployment (persisted before each one's health checks). */
  confirmAttempts: number;
}

export type BootAction =
  /** Not a switch phase: nothing to reconcile. */
  | { kind: 'none' }
  /** Continue or redo migrate + stage (idempotent) in this boot. */
  | { kind: 'stage' }
  /** The trial is armed and this boot is still the old one: reboot into it. */
  | { kind: 'reboot' }
  /** The trial image is running: check health, then commit. */
  | { kind: 'confirm' }
  /** The device came back on another image: the trial did not survive. */
  | { kind: 'rolled-back'; reason: string }
  /** The trial runs, but was started too often without a verdict: roll it back and reboot into the committed image. */
  | { kind: 'abandon'; reason: string };

export function reconcileBoot(f: BootFacts): BootAction {
  if (!SWITCH_PHASES.has(f.phase)) return { kind: 'none' };
  // Whatever we were doing: if the target is what runs, the trial boot happened (even after a power cut
  // between arming and recording it). Confirm it.
  if (f.bootedVersion === f.targetVersion) {
    if (f.confirmAttempts >= MAX_CONFIRM_ATTEMPTS) {
      return { kind: 'abandon', reason: `trial ${f.targetVersion} was started ${f.confirmAttempts} times without being confirmed` };
    }
    return { kind: 'confirm' };
  }
  const booted = f.bootedVersion === null ? 'an unknown image' : `image ${f.bootedVersion}`;
  switch (f.phase) {
    case 'migrating':
      // Nothing may have been armed yet, or it was armed and consumed: staging again is safe either way
      // (the loop breaker stops a trial that keeps failing before we record it).
      return { kind: 'stage' };
    case 'staged':
    case 'rebooting':
      if (!f.rebootedSince) return { kind: 'reboot' };
      if (f.trialArmed) return { kind: 'reboot' }; // rebooted, but not through our Grub (trial untouched)
      return { kind: 'rolled-back', reason: `trial boot of ${f.targetVersion} did not come up; the device booted ${booted}` };
    case 'confirming':
      return {
        kind: 'rolled-back',
        reason: f.rebootedSince
          ? `trial ${f.targetVersion} was not confirmed; the device booted ${booted}`
          : `trial ${f.targetVersion} is not running (booted ${booted})`,
      };
    default:
      return { kind: 'none' };
  }
}
