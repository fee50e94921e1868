// Maintenance window and switch decisions (pure): when may migrate + stage + reboot run, given a fixed clock.
import { nextOccurrence, parseCron, previousOccurrence, type CronZone } from '../util/cron-expr.js';

export interface WindowSchedule {
  /** 5-field cron (node-cron 4 syntax without seconds) marking where each window opens. */
  cron: string;
  /** How long each window stays open, in minutes. */
  durationMin: number;
  /** Clock the cron fields are read in; default UTC. DST transitions in 'local' are out of scope. */
  timezone?: CronZone;
}

/** What the config `window` section should hold (the loader fills the defaults in DEFAULT_WINDOW_OPTIONS). */
export interface WindowOptions {
  cron: string;
  durationMin: number;
  timezone: CronZone;
  /** Busy checks inside a window before the switch is forced anyway. */
  maxPostponements: number;
  /** Minutes between checks while postponed inside a window. */
  retryMin: number;
  /** Deadline = ready-since + this; past it the switch is forced even outside the window. 0 = no deadline. */
  maxDelayHours: number;
  idle: {
    /** 1-minute load average above this is busy. 0 disables the probe. */
    maxLoad: number;
    /** Shell commands (sh -c); exit 0 means busy. */
    busyCommands: string[];
    /** Per-command (and per systemd-inhibit call) timeout; a timeout counts as busy. */
    probeTimeoutSec: number;
    /** Ask `systemd-inhibit --list` for block locks on shutdown. */
    systemdInhibitors: boolean;
  };
}

export const DEFAULT_WINDOW_OPTIONS: WindowOptions = {
  cron: '0 3 * * *',
  durationMin: 120,
  timezone: 'UTC',
  maxPostponements: 6,
  retryMin: 5,
  maxDelayHours: 72,
  idle: { maxLoad: 4, busyCommands: [], probeTimeoutSec: 10, systemdInhibitors: true },
};

export interface WindowState {
  open: boolean;
  /** Start of the current window when open, else of the next one. */
  opensAt: Date;
  closesAt: Date;
}

const MINUTE = 60_000;

/**
 * Open when `now` is in [start, start + duration) of the most recent occurrence, else the next window.
 * Windows longer than the cron period overlap; the latest occurrence then defines closesAt.
 */
export function windowAt(schedule: WindowSchedule, now: Date): WindowState {
  const expr = parseCron(schedule.cron); // cheap next to the search; a cache would add state here
  const zone = schedule.timezone ?? 'UTC';
  const span = schedule.durationMin * MINUTE;
  // Only an occurrence within the last `duration` can make the window open: bound the backwards search.
  const last = previousOccurrence(expr, now, zone, new Date(now.getTime() - span + 1));
  if (last && now.getTime() < last.getTime() + span) {
    return { open: true, opensAt: last, closesAt: new Date(last.getTime() + span) };
  }
  const next = nextOccurrence(expr, now, zone);
  return { open: false, opensAt: next, closesAt: new Date(next.getTime() + span) };
}

/** Ready-since + maxDelayHours, or null when there is no deadline (not ready yet, or maxDelayHours 0). */
export function switchDeadline(readySince: Date | null, maxDelayHours: number): Date | null {
  if (!readySince || maxDelayHours <= 0) return null;
  return new Date(readySince.getTime() + maxDelayHours * 60 * MINUTE);
}

export interface SwitchInput {
  now: Date;
  window: WindowSchedule;
  idle: { busy: boolean; reasons: string[] };
  /** Busy postponements so far for this deployment (persisted by the caller). */
  postponements: number;
  maxPostponements: number;
  deadline: Date | null;
  /** Operator asked for it (`apply --now`): skip window and idle checks; pre-flight still applies elsewhere. */
  force: boolean;
  /** Minutes between checks while postponed; default 5. */
  retryMin?: number;
}

export interface SwitchDecision {
  action: 'switch' | 'wait' | 'postpone';
  /** True when the window or idle gate was overridden (operator, deadline, or postponement cap). */
  forced: boolean;
  reason: string;
  /** When to decide again; `now` for a switch. */
  nextCheckAt: Date;
  /** Count to persist: +1 on postpone, unchanged otherwise. */
  postponements: number;
}

const iso = (d: Date): string => d.toISOString();

/** Never sleep past the deadline: the forced switch should happen when it falls due, not at the next window. */
function capAt(at: Date, deadline: Date | null): Date {
  return deadline && deadline.getTime() < at.getTime() ? deadline : at;
}

/** When to look again after a busy check: after the retry interval if still in a window, else the next window. */
function retryAt(schedule: WindowSchedule, now: Date, closesAt: Date, retryMin: number): Date {
  const candidate = new Date(now.getTime() + retryMin * MINUTE);
  if (candidate < closesAt) return candidate;
  const after = windowAt(schedule, closesAt);
  if (!after.open) return after.opensAt;
  // Overlapping windows: the next one has already opened by closesAt, so the gate stays open.
  return candidate < after.closesAt ? candidate : closesAt;
}

export function decideSwitch(input: SwitchInput): SwitchDecision {
  const { now, postponements, deadline } = input;
  const switchNow = (forced: boolean, reason: string): SwitchDecision => ({ action: 'switch', forced, reason, nextCheckAt: now, postponements });
  if (input.force) return switchNow(true, 'operator asked to apply now');

  const win = windowAt(input.window, now);
  const busyWhy = input.idle.reasons.length > 0 ? input.idle.reasons.join('; ') : 'busy';
  const overdue = deadline !== null && now.getTime() >= deadline.getTime();

  if (!win.open) {
    if (overdue) return switchNow(true, `deadline ${iso(deadline)} passed outside the window`);
    return {
      action: 'wait',
      forced: false,
      reason: `outside the maintenance window; next opens ${iso(win.opensAt)}`,
      nextCheckAt: capAt(win.opensAt, deadline),
      postponements,
    };
  }
  if (!input.idle.busy) return switchNow(false, `in the maintenance window (until ${iso(win.closesAt)}) and idle`);
  if (overdue) return switchNow(true, `deadline ${iso(deadline)} passed; busy (${busyWhy})`);
  if (postponements >= input.maxPostponements) {
    return switchNow(true, `postponed ${postponements} times (max ${input.maxPostponements}); busy (${busyWhy})`);
  }
  const nextCheckAt = capAt(retryAt(input.window, now, win.closesAt, input.retryMin ?? 5), deadline);
  return {
    action: 'postpone',
    forced: false,
    reason: `busy (${busyWhy}); postponement ${postponements + 1} of ${input.maxPostponements}`,
    nextCheckAt,
    postponements: postponements + 1,
  };
}
