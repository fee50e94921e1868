// The prefetch runner: takes a deployment from pending to ready, one step at a time, intent before effect.
import type { Config } from '../config.js';
import type { Store, Deployment } from '../state/store.js';
import type { Logger } from '../log.js';
import type { Zfs } from '../adapters/zfs.js';
import type { Dispatcher } from 'undici';
import { asUpgradeError, DownloadError, RetryLaterError, StateError, TRANSIENT_CODES, type UpgradeError } from '../errors.js';
import { loopBreakerTripped, resumeAction, STEPS, type StepName } from './phases.js';
import { runDownload, runExport, runImport, type StepContext } from './steps.js';
import { backoffMs, onDeferral, retryPolicyOf } from './retry-policy.js';
import type { ProgressSink } from '../util/progress.js';

export interface RunnerDeps {
  config: Config;
  store: Store;
  zfs: Zfs;
  dispatcher: Dispatcher;
  log: Logger;
  now: () => number;
  /** In [0, 1): the jitter of retry delays (injected so the policy's tests and the soak are repeatable). */
  random: () => number;
  /** Where the download reports its bytes (the CLI's TTY line); none in the daemon. */
  progress?: ProgressSink;
}

export type RunOutcome =
  | { kind: 'ready'; deployment: Deployment }
  | { kind: 'retry'; at: number; code: string; deployment: Deployment }
  | { kind: 'failed'; deployment: Deployment }
  | { kind: 'idle'; deployment: Deployment | null };


/** Ceiling of the backoff between failed attempts of a step. */
const STEP_BACKOFF_MAX_MS = 3_600_000;

const STEP_FNS: Record<StepName, (ctx: StepContext, d: Deployment) => Promise<void>> = {
  download: runDownload,
  import: runImport,
  export: runExport,
};

export class Runner {
  constructor(private readonly deps: RunnerDeps) {}

  /**
   * Called once when the agent starts: a deployment found in an in-progress phase was interrupted (crash, kill,
   * power cut). Count it; past the limit the loop breaker fails it instead of cycling forever.
   */
  recover(): Deployment | null {
    const { store, config, log } = this.deps;
    const d = store.active();
    if (!d) return null;
    const action = resumeAction(d.phase);
    if (action.kind !== 'step' || !action.recovering) return d;
    const resumes = d.resumes + 1;
    if (loopBreakerTripped(resumes, config.state.maxResumes)) {
      log.error({ id: d.id, phase: d.phase, resumes }, 'loop breaker: failing deployment');
      return store.transition(d.id, 'failed', { resumes, reasonCode: 'E_LOOP_BREAKER', reason: `interrupted ${resumes} times in ${d.phase}` });
    }
    log.warn({ id: d.id, phase: d.phase, resumes }, 'resuming interrupted deployment');
    store.journal('resumed', d.id, { phase: d.phase, resumes });
    return store.update(d.id, { resumes });
  }

  /** Runs steps until the deployment is ready, fails, or must wait (come back later / transient fault). */
  async advance(id: number): Promise<RunOutcome> {
    const { store, log } = this.deps;
    const ctx: StepContext = { ...this.deps };
    for (;;) {
      const d = store.get(id);
      const action = resumeAction(d.phase);
      if (action.kind === 'wait-window') return { kind: 'ready', deployment: d };
      if (action.kind !== 'step') return d.phase === 'failed' ? { kind: 'failed', deployment: d } : { kind: 'idle', deployment: d };
      const step = STEPS[action.step];
      log.info({ id, version: d.version, step: action.step, phase: d.phase }, 'step start');
      try {
        // Intent: the in-progress phase is durable before the effect starts.
        if (d.phase !== step.during) store.transition(id, step.during, {}, `${action.step}:start`);
        await STEP_FNS[action.step](ctx, store.get(id));
        // A step done makes the last deferral's reason history (the journal keeps it), not the deployment's status.
        store.transition(id, step.done, { failures: 0, deferrals: 0, nextAttemptAt: null, reasonCode: null, reason: null, ...(step.done === 'ready' ? { readyAt: this.deps.now() } : {}) }, `${action.step}:done`);
        log.info({ id, version: d.version, step: action.step, phase: step.done }, 'step done');
      } catch (err) {
        return this.onError(id, action.step, err);
      }
    }
  }

  private onError(id: number, step: StepName, raw: unknown): RunOutcome {
    const { store, log, config } = this.deps;
    let err = asUpgradeError(raw);
    if (err instanceof StateError && err.code === 'E_STATE_TRANSITION') throw err;
    const d = store.get(id);
    if (err instanceof RetryLaterError) {
      const decision = onDeferral(retryPolicyOf(config.retry), d.deferrals, err.retryAfterMs, this.deps.random());
      if (decision.kind === 'defer') return this.defer(id, step, err, { deferrals: decision.deferrals, failures: d.failures }, decision.delayMs);
      // Past the cap, "come back later" is a failure like any other: it backs off and counts toward maxFailures.
      err = new DownloadError('E_RETRY_LATER_EXHAUSTED', `${config.retry.maxDeferrals} come-back-later answers in a row; last: ${err.message}`, {
        cause: err, context: { maxDeferrals: config.retry.maxDeferrals, ...err.context },
      });
    }
    // Transient faults (ERROR_CODES' `transient`) keep the phase and retry with backoff; anything else fails the deployment.
    if (TRANSIENT_CODES.has(err.code)) {
      const failures = d.failures + 1;
      if (failures <= config.state.maxFailures) return this.defer(id, step, err, { deferrals: 0, failures }, backoffMs(failures, STEP_BACKOFF_MAX_MS));
    }
    log.error({ id, step, code: err.code, err: err.message, context: err.context }, 'step failed');
    const failed = store.transition(id, 'failed', { reasonCode: err.code, reason: err.message }, `${step}:failed`, {
      code: err.code, message: err.message, context: err.context,
    });
    return { kind: 'failed', deployment: failed };
  }

  private defer(id: number, step: StepName, err: UpgradeError, counts: { deferrals: number; failures: number }, delay: number): RunOutcome {
    const { store, log, now } = this.deps;
    const at = now() + delay;
    log.warn({ id, step, code: err.code, err: err.message, retryInMs: delay, ...counts }, 'step deferred');
    store.journal(`${step}:deferred`, id, { code: err.code, message: err.message, retryAt: at, ...counts });
    return { kind: 'retry', at, code: err.code, deployment: store.update(id, { ...counts, nextAttemptAt: at, reasonCode: err.code, reason: err.message }) };
  }
}
