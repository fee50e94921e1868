// Accepting a target: verify the signed manifest against trust and floors, then decide what it does to state.
import type { Deployment } from '../state/store.js';
import type { Device } from './device.js';
import { clockFloorToStore } from '../trust/clock-floor.js';
import { verifyManifest } from '../trust/manifest.js';
import { decideTarget, type TargetDecision } from './decide.js';
import { isReplaceable } from './phases.js';
import { readCommittedVersion } from './device-facts.js';

export interface AcceptResult {
  decision: TargetDecision;
  deployment: Deployment | null;
}

/** The device's verification of a manifest document, changing nothing: trust keys and threshold, floors, hardware, channel. */
export function verifyForDevice(
  deps: Pick<Device, 'config' | 'store'>, doc: Uint8Array, nowMs: number, allowDowngrade?: boolean,
): ReturnType<typeof verifyManifest> {
  const { config, store } = deps;
  const floorVersion = store.getFloor('version');
  return verifyManifest(doc, {
    trusted: config.trust.keys,
    threshold: config.trust.threshold,
    maxBytes: config.trust.maxManifestBytes,
    now: new Date(nowMs),
    newestIssued: store.getFloor('issued'),
    maxClockAheadSec: config.trust.maxClockAheadSec,
    versionFloor: floorVersion === null ? null : Number(floorVersion),
    hardware: config.hardware,
    channel: config.channel,
    allowDowngrade: allowDowngrade ?? config.trust.allowDowngrade,
  });
}

/**
 * Verifies `doc` (signatures, expiry with the clock floor, version floor, hardware, channel, size cap) and
 * records a deployment. Raises the floors only after the manifest is accepted.
 */
export function acceptManifest(
  deps: Pick<Device, 'config' | 'store' | 'log' | 'now' | 'boot'>,
  doc: Uint8Array,
  manifestUrl: string | null,
  opts: { allowDowngrade?: boolean; automatic?: boolean } = {},
): AcceptResult {
  const { config, store, log } = deps;
  const nowMs = deps.now(); // one clock reading for the expiry check and for the floor stored after it
  const maxAhead = config.trust.maxClockAheadSec;
  const { manifest, payloadSha256 } = verifyForDevice(deps, doc, nowMs, opts.allowDowngrade);

  const active = store.active();
  const last = opts.automatic ? store.latestForVersion(manifest.version) : null;
  const decision = decideTarget(
    { version: manifest.version, payloadSha256 },
    readCommittedVersion(store, deps.boot.bootedVersion()),
    active && { id: active.id, version: active.version, payloadSha256: active.payloadSha256, phase: active.phase, replaceable: isReplaceable(active.phase) },
    last?.phase === 'rolled_back' || last?.phase === 'failed' ? { id: last.id, payloadSha256: last.payloadSha256, phase: last.phase } : null,
  );
  const issuedFloor = clockFloorToStore(manifest.issued, nowMs, maxAhead);
  if (issuedFloor !== manifest.issued) {
    // Either the signer's clock or this device's is wrong; the floor moves only as far as the bound allows.
    log.warn({ version: manifest.version, issued: manifest.issued, floor: issuedFloor, maxClockAheadSec: maxAhead },
      'manifest issued further ahead of the device clock than trust.maxClockAheadSec: clock floor raised only that far');
  }
  store.raiseFloors(manifest.version, issuedFloor);
  log.info({ version: manifest.version, decision }, 'manifest accepted');
  switch (decision.kind) {
    case 'rolled-back-before':
      store.journal('target-refused', decision.deploymentId, { version: manifest.version, why: 'rolled back before; not retried automatically' });
      return { decision, deployment: null };
    case 'failed-before':
      store.journal('target-refused', decision.deploymentId, { version: manifest.version, why: 'failed before; not retried automatically' });
      return { decision, deployment: null };
    case 'up-to-date':
      store.journal('up-to-date', null, { version: manifest.version });
      return { decision, deployment: null };
    case 'busy':
      store.journal('target-deferred', decision.deploymentId, { version: manifest.version, phase: decision.phase });
      return { decision, deployment: store.get(decision.deploymentId) };
    case 'same':
      return { decision, deployment: store.get(decision.deploymentId) };
    case 'start':
      if (decision.replaces !== null) {
        store.transition(decision.replaces, 'cancelled', { reasonCode: 'E_SUPERSEDED', reason: `superseded by version ${manifest.version}` });
      }
      return {
        decision,
        deployment: store.create({
          version: manifest.version,
          label: manifest.label,
          manifestUrl,
          envelope: Buffer.from(doc),
          payloadSha256,
          imageSize: manifest.image.size,
          imageSha256: manifest.image.sha256,
        }),
      };
  }
}
