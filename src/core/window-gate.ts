// The window gate: a ready deployment switches only inside the window when idle (or when forced), else it waits.
import type { Device } from './device.js';
import { decideSwitch, switchDeadline, type SwitchDecision } from './window.js';

/**
 * Decides for the active ready deployment (null when there is none) and records the decision; a deferral also
 * stores when to look again. The caller (drive) stages and reboots on 'switch'.
 */
export async function windowDecision(deps: Device, force: boolean): Promise<SwitchDecision | null> {
  const { store, config, log, now } = deps;
  const d = store.active();
  if (!d || d.phase !== 'ready') return null;
  const idle = force ? { busy: false, reasons: [] } : await deps.idle.check();
  const decision = decideSwitch({
    now: new Date(now()),
    window: { cron: config.window.cron, durationMin: config.window.durationMin, timezone: config.window.timezone },
    idle: { busy: idle.busy, reasons: idle.reasons },
    postponements: d.postponements,
    maxPostponements: config.window.maxPostponements,
    deadline: switchDeadline(d.readyAt === null ? null : new Date(d.readyAt), config.window.maxDelayHours),
    force,
    retryMin: config.window.retryMin,
  });
  store.journal(`window:${decision.action}`, d.id, { ...decision, idle: idle.reasons });
  if (decision.action !== 'switch') {
    store.update(d.id, { postponements: decision.postponements, nextAttemptAt: decision.nextCheckAt.getTime() });
    log.info({ id: d.id, action: decision.action, reason: decision.reason, next: decision.nextCheckAt }, 'switch deferred');
    return decision;
  }
  log.info({ id: d.id, forced: decision.forced, reason: decision.reason }, 'switch window: going');
  return decision;
}
