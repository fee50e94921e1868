// On-demand diffs, device side: ask the fleet server for the diff from a base, verify its delegation chain, or fall back.
import { comeBackLater, fetchCapped, headerValue, type SmallFetchLimits } from '../adapters/http.js';
import type { Dispatcher } from '../adapters/http-dispatcher.js';
import { DownloadError, TrustError } from '../errors.js';
import { MAX_DIFF_OFFER_BYTES, verifyDiffOffer, type DiffOfferContext } from '../trust/delegation.js';
import type { StreamOffer } from '../trust/manifest-types.js';

/** `GET /v1/diffs/<version>/<from>` under the fleet URL (docs/protocol.md, "Diffs on demand"). Pure. */
export function diffOfferUrl(fleetUrl: string, version: number, from: number): string {
  return new URL(`v1/diffs/${version}/${from}`, fleetUrl.endsWith('/') ? fleetUrl : `${fleetUrl}/`).toString();
}

export type DiffOfferResult =
  /** A verified offer; its urls are absolute (resolved against the document's URL). */
  | { kind: 'offer'; offer: StreamOffer }
  /** Take the full stream instead: the server has none for this base (404), or the delegation does not cover it. */
  | { kind: 'full'; code: string; message: string };

export interface DiffOfferNet {
  dispatcher: Dispatcher;
  limits: SmallFetchLimits;
  now: () => number;
}

/** A 404 body's code, when it is the server's `{code, message}`; else E_HTTP_STATUS. */
function notFound(body: Buffer): { code: string; message: string } {
  try {
    const o = JSON.parse(body.toString('utf8')) as { code?: unknown; message?: unknown };
    if (typeof o.code === 'string' && /^E_[A-Z0-9_]{1,60}$/.test(o.code)) return { code: o.code, message: typeof o.message === 'string' ? o.message.slice(0, 512) : '' };
  } catch {
    // not the server's JSON: still a 404
  }
  return { code: 'E_HTTP_STATUS', message: 'HTTP 404' };
}

/**
 * Asks for the diff and verifies it. 202/503/429 throw RetryLaterError (the runner's retry policy bounds the
 * wait and counts the deferral). A refusal of the chain throws its TrustError — except a delegation that does
 * not cover this base or has lapsed by the device's clock: the full stream, signed in the manifest, is as safe.
 */
export async function askDiffOffer(url: string, net: DiffOfferNet, ctx: DiffOfferContext): Promise<DiffOfferResult> {
  const res = await fetchCapped(url, { dispatcher: net.dispatcher, limits: net.limits, now: net.now, maxBytes: MAX_DIFF_OFFER_BYTES + 1, method: 'GET' });
  if (res.status === 202 || res.status === 503 || res.status === 429) throw comeBackLater(res.headers, url, net.now());
  if (res.status === 404) return { kind: 'full', ...notFound(res.body) };
  if (res.status !== 200) {
    throw new DownloadError('E_HTTP_STATUS', `${url} answered HTTP ${res.status}`, { context: { url, status: res.status, type: headerValue(res.headers, 'content-type') } });
  }
  let offer: StreamOffer;
  try {
    offer = verifyDiffOffer(res.body, ctx);
  } catch (err) {
    if (err instanceof TrustError && err.code === 'E_DELEGATION_SCOPE' && notCovering(err.context)) {
      return { kind: 'full', code: err.code, message: err.message };
    }
    throw err;
  }
  return { kind: 'offer', offer: { ...offer, urls: offer.urls.map((u) => new URL(u, url).toString()) } };
}

/** The scope refusals that say "not for you" rather than "something is wrong": another base, a lapsed delegation. */
function notCovering(context: Record<string, unknown> | undefined): boolean {
  if (context === undefined) return false;
  return 'bases' in context || ('notAfter' in context && 'now' in context);
}
