// Prepare a target end to end in the background: fetch the signed manifest, accept it, run prefetch to ready.
import type { Device } from './device.js';
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
export async function fetchManifest(device: Device, url: string): Promise<Buffer> {
  const max = device.config.trust.maxManifestBytes;
  let res;
  try {
    res = await fetchCapped(url, { dispatcher: device.dispatcher, maxBytes: max, limits: smallFetchLimits(device.config), now: device.now });
  } catch (err) {
    if (err instanceof UpgradeError && err.code === 'E_DOWNLOAD_TOO_LARGE') {
      throw new TrustError('E_MANIFEST_TOO_LARGE', `manifest at ${url} exceeds ${max} bytes`, { cause: err, context: { url, max } });
    }
    throw err;
  }
  if (isComeBackLater(res.status, res.headers)) throw comeBackLater(res.headers, url, device.now());
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
async function fetchManifestWaiting(device: Device, url: string, wait: boolean, sleep: Sleep): Promise<Buffer> {
  const policy = retryPolicyOf(device.config.retry);
  const deadline = device.now() + device.config.download.retryLaterMaxSec * 1000;
  for (let deferrals = 0; ; ) {
    try {
      return await fetchManifest(device, url);
    } catch (err) {
      if (!wait || !(err instanceof RetryLaterError)) throw err;
      const d = onDeferral(policy, deferrals, err.retryAfterMs, device.random());
      if (d.kind === 'exhausted' || device.now() + d.delayMs > deadline) throw err;
      deferrals = d.deferrals;
      device.log.info({ url, waitMs: d.delayMs, deferrals }, 'manifest not ready: waiting');
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
  device: Device,
  manifestUrl: string,
  opts: { allowDowngrade?: boolean; waitRetryLater?: boolean; automatic?: boolean; sleep?: Sleep } = {},
): Promise<PrepareResult> {
  const doc = await fetchManifestWaiting(device, manifestUrl, opts.waitRetryLater ?? false, opts.sleep ?? realSleep);
  const accepted = acceptManifest(device, doc, manifestUrl, { allowDowngrade: opts.allowDowngrade ?? false, automatic: opts.automatic ?? false });
  const d = accepted.deployment;
  if (!d || !isReplaceable(d.phase) || accepted.decision.kind === 'busy') return { accepted, outcome: null };
  // (A ready deployment's next_attempt_at is the window's: advancing it only reports it ready.)
  if (opts.automatic && resumeAction(d.phase).kind === 'step' && d.nextAttemptAt !== null && d.nextAttemptAt > device.now()) {
    return { accepted, outcome: { kind: 'retry', at: d.nextAttemptAt, code: d.reasonCode ?? 'E_RETRY_LATER', deployment: d } };
  }
  return { accepted, outcome: await advanceUntilSettled(device, d.id, opts) };
}

export async function advanceUntilSettled(device: Device, id: number, opts: { waitRetryLater?: boolean; sleep?: Sleep } = {}): Promise<RunOutcome> {
  const runner = new Runner(device);
  const sleep = opts.sleep ?? realSleep;
  const deadline = device.now() + device.config.download.retryLaterMaxSec * 1000;
  for (;;) {
    const outcome = await runner.advance(id);
    if (outcome.kind !== 'retry' || !opts.waitRetryLater) return outcome;
    const wait = outcome.at - device.now();
    if (device.now() + wait > deadline) return outcome;
    device.log.info({ id, code: outcome.code, waitMs: wait }, 'waiting before retry');
    await sleep(Math.max(0, wait));
  }
}
