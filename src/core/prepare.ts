// Prepare a target end to end in the background: fetch the signed manifest, accept it, run prefetch to ready.
import type { Agent } from '../wiring.js';
import { comeBackLater, fetchCapped, isComeBackLater } from '../adapters/http.js';
import { DownloadError, RetryLaterError, TrustError, UpgradeError } from '../errors.js';
import { smallFetchLimits } from '../config.js';
import { acceptManifest, type AcceptResult } from './accept.js';
import { Runner, type RunOutcome } from './runner.js';
import { isReplaceable, resumeAction } from './phases.js';
import { onDeferral, retryPolicyOf } from './retry-policy.js';

/**
 * Fetches a manifest document, capped at the configured size (a lying server cannot make us buffer more) and bounded
 * by the http deadline. 202 (or 429/503 + Retry-After) is "come back later", as on a stream: RetryLaterError.
 */
export async function fetchManifest(agent: Agent, url: string): Promise<Buffer> {
  const max = agent.config.trust.maxManifestBytes;
  let res;
  try {
    res = await fetchCapped(url, { dispatcher: agent.dispatcher, maxBytes: max, limits: smallFetchLimits(agent.config), now: agent.now });
  } catch (err) {
    if (err instanceof UpgradeError && err.code === 'E_DOWNLOAD_TOO_LARGE') {
      throw new TrustError('E_MANIFEST_TOO_LARGE', `manifest at ${url} exceeds ${max} bytes`, { cause: err, context: { url, max } });
    }
    throw err;
  }
  if (isComeBackLater(res.status, res.headers)) throw comeBackLater(res.headers, url, agent.now());
  if (res.status !== 200) {
    throw new DownloadError('E_HTTP_STATUS', `manifest at ${url}: HTTP ${res.status}`, { context: { url, status: res.status } });
  }
  return res.body;
}

export interface PrepareResult {
  accepted: AcceptResult;
  outcome: RunOutcome | null;
}

type Sleep = (ms: number) => Promise<void>;
const realSleep: Sleep = (ms) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The manifest, waiting out "come back later" in-process when `wait` (a foreground `upgradectl prepare`): each wait
 * bounded by the retry policy, the whole within download.retryLaterMaxSec and retry.maxDeferrals; past either, the
 * RetryLaterError goes to the caller (exit 3, deferred).
 */
async function fetchManifestWaiting(agent: Agent, url: string, wait: boolean, sleep: Sleep): Promise<Buffer> {
  const policy = retryPolicyOf(agent.config.retry);
  const deadline = agent.now() + agent.config.download.retryLaterMaxSec * 1000;
  for (let deferrals = 0; ; ) {
    try {
      return await fetchManifest(agent, url);
    } catch (err) {
      if (!wait || !(err instanceof RetryLaterError)) throw err;
      const d = onDeferral(policy, deferrals, err.retryAfterMs, agent.random());
      if (d.kind === 'exhausted' || agent.now() + d.delayMs > deadline) throw err;
      deferrals = d.deferrals;
      agent.log.info({ url, waitMs: d.delayMs, deferrals }, 'manifest not ready: waiting');
      await sleep(d.delayMs);
    }
  }
}

/**
 * One prepare pass. With `waitRetryLater`, "come back later" answers are waited out in-process (a foreground
 * `upgradectl prepare`); without it, the outcome says when to come back (the daemon schedules that). An automatic
 * pass (a check-in) leaves a deployment alone until its recorded retry time: a check-in is not a way around the floor.
 */
export async function prepare(
  agent: Agent,
  manifestUrl: string,
  opts: { allowDowngrade?: boolean; waitRetryLater?: boolean; automatic?: boolean; sleep?: Sleep } = {},
): Promise<PrepareResult> {
  const doc = await fetchManifestWaiting(agent, manifestUrl, opts.waitRetryLater ?? false, opts.sleep ?? realSleep);
  const accepted = acceptManifest(agent, doc, manifestUrl, { allowDowngrade: opts.allowDowngrade ?? false, automatic: opts.automatic ?? false });
  const d = accepted.deployment;
  if (!d || !isReplaceable(d.phase) || accepted.decision.kind === 'busy') return { accepted, outcome: null };
  // (A ready deployment's next_attempt_at is the window's: advancing it only reports it ready.)
  if (opts.automatic && resumeAction(d.phase).kind === 'step' && d.nextAttemptAt !== null && d.nextAttemptAt > agent.now()) {
    return { accepted, outcome: { kind: 'retry', at: d.nextAttemptAt, code: d.reasonCode ?? 'E_RETRY_LATER', deployment: d } };
  }
  return { accepted, outcome: await advanceUntilSettled(agent, d.id, opts) };
}

export async function advanceUntilSettled(agent: Agent, id: number, opts: { waitRetryLater?: boolean; sleep?: Sleep } = {}): Promise<RunOutcome> {
  const runner = new Runner(agent);
  const sleep = opts.sleep ?? realSleep;
  const deadline = agent.now() + agent.config.download.retryLaterMaxSec * 1000;
  for (;;) {
    const outcome = await runner.advance(id);
    if (outcome.kind !== 'retry' || !opts.waitRetryLater) return outcome;
    const wait = outcome.at - agent.now();
    if (agent.now() + wait > deadline) return outcome;
    agent.log.info({ id, code: outcome.code, waitMs: wait }, 'waiting before retry');
    await sleep(Math.max(0, wait));
  }
}
