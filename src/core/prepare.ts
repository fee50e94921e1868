// Prepare a target end to end in the background: fetch the signed manifest, accept it, run prefetch to ready.
import type { Agent } from '../wiring.js';
import { fetchCapped } from '../adapters/http.js';
import { DownloadError, TrustError, UpgradeError } from '../errors.js';
import { acceptManifest, type AcceptResult } from './accept.js';
import { Runner, type RunOutcome } from './runner.js';
import { isReplaceable } from './phases.js';

/** Fetches a manifest document, capped at the configured size (a lying server cannot make us buffer more). */
export async function fetchManifest(agent: Agent, url: string): Promise<Buffer> {
  const max = agent.config.trust.maxManifestBytes;
  let res;
  try {
    res = await fetchCapped(url, { dispatcher: agent.dispatcher, maxBytes: max });
  } catch (err) {
    if (err instanceof UpgradeError && err.code === 'E_DOWNLOAD_TOO_LARGE') {
      throw new TrustError('E_MANIFEST_TOO_LARGE', `manifest at ${url} exceeds ${max} bytes`, { cause: err, context: { url, max } });
    }
    throw err;
  }
  if (res.status !== 200) {
    throw new DownloadError('E_HTTP_STATUS', `manifest at ${url}: HTTP ${res.status}`, { context: { url, status: res.status } });
  }
  return res.body;
}

export interface PrepareResult {
  accepted: AcceptResult;
  outcome: RunOutcome | null;
}

/**
 * One prepare pass. With `waitRetryLater`, "come back later" answers are waited out in-process (a foreground
 * `upgradectl prepare`); without it, the outcome says when to come back (the daemon schedules that).
 */
export async function prepare(
  agent: Agent,
  manifestUrl: string,
  opts: { allowDowngrade?: boolean; waitRetryLater?: boolean; automatic?: boolean; sleep?: (ms: number) => Promise<void> } = {},
): Promise<PrepareResult> {
  const doc = await fetchManifest(agent, manifestUrl);
  const accepted = acceptManifest(agent, doc, manifestUrl, { allowDowngrade: opts.allowDowngrade ?? false, automatic: opts.automatic ?? false });
  const d = accepted.deployment;
  if (!d || !isReplaceable(d.phase) || accepted.decision.kind === 'busy') return { accepted, outcome: null };
  return { accepted, outcome: await advanceUntilSettled(agent, d.id, opts) };
}

export async function advanceUntilSettled(
  agent: Agent,
  id: number,
  opts: { waitRetryLater?: boolean; sleep?: (ms: number) => Promise<void> } = {},
): Promise<RunOutcome> {
  const runner = new Runner(agent);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
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
