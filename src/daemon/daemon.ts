// The service: recovers interrupted work, checks in on a jittered timer, and serves upgradectl over a unix socket.
import type { Server } from 'node:http';
import type { Agent } from '../wiring.js';
import { Runner } from '../core/runner.js';
import { checkInCycle } from '../core/checkin-cycle.js';
import { prepare, advanceUntilSettled } from '../core/prepare.js';
import { nextCheckinDelayMs } from '../core/decide.js';
import { resumeAction } from '../core/phases.js';
import { asUpgradeError, RetryLaterError } from '../errors.js';
import { startControlServer } from './control.js';
import { wireSwitch } from '../wiring.js';
import type { SwitchDeps } from '../core/switch.js';
import { reconcileAfterStart, operatorRollback } from '../core/confirm.js';
import { windowGate } from '../core/window-gate.js';

export class Daemon {
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private server: Server | null = null;
  private failures = 0;
  private stopped = false;

  private readonly switchDeps: SwitchDeps;

  constructor(private readonly agent: Agent, private readonly random: () => number = Math.random) {
    this.switchDeps = wireSwitch(agent, { powerOff: () => process.exit(0) });
  }

  /** Serialises all work: one runner at a time, whoever asked (timer, upgradectl, another agent). */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async start(): Promise<void> {
    const { agent } = this;
    // What booted decides first: a trial is confirmed (or recorded as fallen back) before anything else runs.
    // A failure here is recorded on the deployment (or is the store's, which the next start meets again): the
    // service stays up to serve status rather than crash-loop on it.
    await reconcileAfterStart(this.switchDeps).catch((raw: unknown) => {
      const err = asUpgradeError(raw);
      agent.log.error({ code: err.code, err: err.message }, 'reconciliation after start failed');
    });
    new Runner(agent).recover();
    this.server = await startControlServer(agent.config.paths.socket, {
      'GET /ping': async () => ({ ok: true }),
      'POST /check-in': () => this.enqueue(() => this.cycle()),
      'POST /apply': (b) => this.enqueue(() => windowGate(this.switchDeps, b['now'] === true)),
      'POST /confirm': () => this.enqueue(() => reconcileAfterStart(this.switchDeps)),
      'POST /rollback': () => this.enqueue(() => operatorRollback(this.switchDeps)),
      'POST /prepare': (b) =>
        this.enqueue(() => prepare(agent, String(b['manifestUrl']), { allowDowngrade: b['allowDowngrade'] === true })),
    });
    agent.log.info({ socket: agent.config.paths.socket }, 'daemon started');
    // Interrupted work resumes first, then the regular schedule takes over.
    this.schedule(0);
  }

  private async cycle(): Promise<unknown> {
    const { agent } = this;
    try {
      const r = agent.config.fleet.url ? await checkInCycle(agent) : null;
      this.failures = 0;
      await this.resumeActive();
      return r;
    } catch (raw) {
      const err = asUpgradeError(raw);
      this.failures += 1;
      agent.log.warn({ code: err.code, err: err.message, failures: this.failures }, 'check-in cycle failed');
      if (err instanceof RetryLaterError) return { retryAfterMs: err.retryAfterMs };
      await this.resumeActive();
      throw err;
    }
  }

  /** Advances an active deployment whose retry time has come (also after a restart); a ready one meets the window. */
  private async resumeActive(): Promise<void> {
    let d = this.agent.store.active();
    if (!d || (d.nextAttemptAt !== null && d.nextAttemptAt > this.agent.now())) return;
    if (resumeAction(d.phase).kind === 'step') await advanceUntilSettled(this.agent, d.id);
    d = this.agent.store.active();
    if (d?.phase === 'ready' && (d.nextAttemptAt === null || d.nextAttemptAt <= this.agent.now())) await windowGate(this.switchDeps, false);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.enqueue(() => this.cycle()).catch(() => undefined).then(() => this.schedule(this.nextDelay()));
    }, delayMs);
  }

  private nextDelay(): number {
    const { config, store, now } = this.agent;
    const regular = nextCheckinDelayMs({ intervalSec: config.fleet.checkinIntervalSec, jitterSec: config.fleet.jitterSec, backoffMaxSec: config.fleet.backoffMaxSec }, this.failures, null, this.random());
    const d = store.active();
    // A deferred step (come back later, transient fault) may be due before the next check-in.
    if (d?.nextAttemptAt != null) return Math.max(0, Math.min(regular, d.nextAttemptAt - now()));
    return regular;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await this.queue;
    this.agent.close();
  }
}
