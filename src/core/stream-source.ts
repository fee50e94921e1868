// The download's stream choice, made once and persisted: the manifest's diff, an on-demand diff, or the full stream.
import type { Device } from './device.js';
import type { Deployment } from '../state/store.js';
import type { Manifest, StreamOffer } from '../trust/manifest-types.js';
import { smallFetchLimits } from '../config.js';
import { askDiffOffer, diffOfferUrl } from '../steps/diff-offer.js';
import { selectStream, streamPlan } from './decide.js';

/**
 * Persists the stream `d` downloads. An on-demand diff is asked for only when the manifest lists none from the
 * base and a fleet server is configured; a 202/503 throws RetryLaterError before anything is persisted (the next
 * attempt asks again), a refused chain throws its code (the deployment fails: nothing unvouched is fetched).
 */
export async function chooseStream(ctx: Device, d: Deployment, m: Manifest, base: number | null): Promise<Deployment> {
  const { config, store, log } = ctx;
  const fleetUrl = config.fleet.url;
  const plan = streamPlan(m, base, fleetUrl !== null && fleetUrl !== '');
  let s: StreamOffer;
  let onDemand = false;
  if (plan.kind === 'listed') s = plan.offer;
  else {
    const url = diffOfferUrl(fleetUrl as string, m.version, plan.from);
    const floor = store.getFloor('issued');
    // The delegation's notAfter is judged as the manifest's expiry was: never before the newest issued instant seen.
    const nowMs = Math.max(ctx.now(), floor === null ? 0 : Date.parse(floor));
    const r = await askDiffOffer(url, { dispatcher: ctx.dispatcher, limits: smallFetchLimits(config), now: ctx.now }, {
      manifest: m, payloadSha256: d.payloadSha256, trusted: config.trust.keys, threshold: config.trust.threshold, from: plan.from, now: new Date(nowMs),
    });
    if (r.kind === 'offer') {
      s = r.offer;
      onDemand = true;
    } else {
      log.info({ id: d.id, url, code: r.code, reason: r.message }, 'no on-demand diff from this base: the full stream');
      store.journal('diff-offer-declined', d.id, { url, code: r.code, message: r.message, base });
      s = selectStream(m, null);
    }
  }
  const next = store.update(d.id, {
    streamFrom: s.from, streamSize: s.size, streamSha256: s.sha256, compression: s.compression, streamUrls: onDemand ? JSON.stringify(s.urls) : null,
  });
  store.journal('stream-selected', d.id, { from: s.from, size: s.size, base, onDemand });
  return next;
}
