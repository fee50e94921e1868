// The service: recovers interrupted work, checks in on a jittered timer, and serves upgradectl over a unix socket.
import type { Device } from '../core/device.js';
import type { Server } from 'node:http';
import { Runner } from '../core/runner.js';
import { checkInCycle } from '../core/checkin-cycle.js';
import { prepare, advanceUntilSettled } from '../core/prepare.js';
import { prepareBundle } from '../core/bundle.js';
import { resumeAction } from '../core/phases.js';
import { asUpgradeError } from '../errors.js';
import { startControlServer } from './control.js';
import { drive } from '../core/drive.js';
import { afterCheckin, initialCheckinState, nextWakeDelayMs, type CheckinState } from './schedule.js';
import { systemdNotifier, type Notifier } from '../systemd/notify.js';

/** How the daemon waits: the real timers, or the soak test's simulated clock (its `now` is the agent's). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class Daemon {
  private queue: Promise<unknown> = Promise.resolve();
  private timer: unknown = null;
  private server: Server | null = null;
  private checkin: CheckinState;
  private stopped = false;

  private readonly timers: Timers;
  /** The soak test drives the daemon in-process without the control socket. */
  private readonly serveSocket: boolean;
  /** sd_notify (Type=notify): READY, STATUS with the active deployment's phase, the watchdog's pings. */
  private readonly notify: Notifier;

  constructor(private readonly device: Device, opts: { timers?: Timers; socket?: boolean; notifier?: Notifier } = {}) {
    this.timers = opts.timers ?? realTimers;
    this.checkin = initialCheckinState(device.now());
    this.serveSocket = opts.socket ?? true;
    this.notify = opts.notifier ?? systemdNotifier();
  }

  /** STATUS=: what the daemon is doing, and the active deployment's phase. */
  private statusLine(doing: string): string {
    const d = this.device.store.active();
    return d ? `${doing}; deployment ${d.id} (version ${d.version}): ${d.phase}` : `${doing}; no active deployment`;
  }

  /** Serialises all work: one runner at a time, whoever asked (timer, upgradectl, another agent). */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    this.pending++;
    const counted = (): Promise<T> => job().finally(() => this.pending--);
    const run = this.queue.then(counted, counted);
    this.queue = run.catch(() => undefined);
    // The phase as systemd shows it (`systemctl status`), whenever a job ends.
    void this.queue.then(() => { if (!this.stopped) this.notify.status(this.statusLine(this.pending > 0 ? 'working' : 'idle')); });
    return run;
  }

  private pending = 0;

  /** No job queued or running: the soak test's simulated clock only jumps ahead then. */
  idle(): boolean {
    return this.pending === 0;
  }

  async start(): Promise<void> {
    const { device } = this;
    this.notify.status('reconciling the boot');
    this.notify.startWatchdog();
    // What booted decides first: a trial is confirmed (or recorded as fallen back) before anything else runs, as the
    // first job of the queue (requests over the socket wait behind it). A failure here is recorded on the deployment
    // (or is the store's, which the next start meets again): the service stays up to serve status rather than
    // crash-loop on it.
    const startup = this.enqueue(async () => {
      await drive(this.device, 'reconcile').catch((raw: unknown) => {
        const err = asUpgradeError(raw);
        device.log.error({ code: err.code, err: err.message }, 'reconciliation after start failed');
      });
      new Runner(device).recover();
    });
    if (this.serveSocket) {
      this.server = await startControlServer(device.config.paths.socket, {
        'GET /ping': async () => ({ ok: true }),
        'POST /check-in': () => this.enqueue(() => this.cycle()),
        'POST /apply': (b) => this.enqueue(async () => ({ decision: (await drive(this.device, b['now'] === true ? 'apply-now' : 'window')).decision ?? null })),
        'POST /confirm': () => this.enqueue(() => drive(this.device, 'reconcile')),
        'POST /rollback': () => this.enqueue(() => drive(this.device, 'rollback')),
        'POST /prepare': (b) =>
          this.enqueue(() => typeof b['bundle'] === 'string'
            ? prepareBundle(device, b['bundle'], { allowDowngrade: b['allowDowngrade'] === true })
            : prepare(device, String(b['manifestUrl']), { allowDowngrade: b['allowDowngrade'] === true })),
      });
      device.log.info({ socket: device.config.paths.socket }, 'daemon started');
    }
    // READY once the state is open and the socket serves, not after the reconcile: confirming a trial runs health
    // checks that wait for the boot to complete, and the boot (multi-user.target) waits for this unit's READY.
    this.notify.ready(this.statusLine('reconciling the boot'));
    device.log.info({ pid: process.pid }, 'daemon ready');
    await startup;
    // Interrupted work resumes first, then the regular schedule takes over.
    this.wake(0);
  }

  /** A timer's turn: the check-in when it is due (it resumes the active deployment too), else only that resume. */
  private async tick(): Promise<unknown> {
    if (this.device.now() >= this.checkin.nextAt) return this.cycle();
    await this.resumeActive();
    return null;
  }

  private async cycle(): Promise<unknown> {
    const { device } = this;
    let result: unknown = null;
    let error: unknown = null;
    try {
      result = device.config.fleet.url ? await checkInCycle(device) : null;
    } catch (raw) {
      error = raw;
    }
    const answer = (result as { answer?: { checkinIntervalSec: number | null } } | null)?.answer ?? null;
    const err = error === null ? null : asUpgradeError(error);
    this.checkin = afterCheckin(this.checkin, device.config, { ok: err === null, error: err, serverIntervalSec: answer?.checkinIntervalSec ?? null }, device.now(), device.random());
    if (err) {
      device.log.warn({ code: err.code, err: err.message, ...this.checkin, retryInMs: this.checkin.nextAt - device.now() }, 'check-in cycle did not complete');
    }
    await this.resumeActive();
    if (err && this.checkin.deferrals > 0) return { retryAfterMs: this.checkin.nextAt - device.now() };
    if (err) throw err;
    return result;
  }

  /** Advances an active deployment whose retry time has come (also after a restart); a ready one meets the window. */
  private async resumeActive(): Promise<void> {
    let d = this.device.store.active();
    if (!d || (d.nextAttemptAt !== null && d.nextAttemptAt > this.device.now())) return;
    if (resumeAction(d.phase).kind === 'step') await advanceUntilSettled(this.device, d.id);
    d = this.device.store.active();
    if (d?.phase === 'ready' && (d.nextAttemptAt === null || d.nextAttemptAt <= this.device.now())) await drive(this.device, 'window');
  }

  private wake(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      void this.enqueue(() => this.tick())
        .catch(() => undefined)
        .then(() => this.wake(nextWakeDelayMs(this.checkin.nextAt, this.device.store.active(), this.device.now())));
    }, delayMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.notify.stopping();
    this.notify.stopWatchdog();
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await this.queue;
  }
}
