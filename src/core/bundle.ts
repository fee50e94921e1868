// prepare --bundle: an offline target. The bundle is indexed and its manifest verified as from the fleet, then the same runner.
import { resolve } from 'node:path';
import type { Device } from './device.js';
import { openBundle } from '../steps/bundle.js';
import { acceptManifest, verifyForDevice } from './accept.js';
import { readCommittedVersion } from './device-facts.js';
import { bundleManifestUrl, selectFromBundle } from './bundle-source.js';
import { advanceUntilSettled, type PrepareResult } from './prepare.js';
import { isReplaceable } from './phases.js';

/**
 * One prepare pass from a bundle file. Refused before anything is recorded: not a bundle or cut short
 * (E_BUNDLE_*), a manifest the fleet path would refuse (E_MANIFEST_*: signatures, expiry, floors, hardware,
 * channel), no stream for this device's base (E_BUNDLE_STREAM_MISSING). Then the manifest is accepted with the
 * bundle's file: URL as its source and the runner takes it to ready; the download step copies from the bundle.
 */
export async function prepareBundle(device: Device, path: string, opts: { allowDowngrade?: boolean; waitRetryLater?: boolean } = {}): Promise<PrepareResult> {
  const { config, store, zfs, log } = device;
  const abs = resolve(path);
  const bundle = await openBundle(abs, config.trust.maxManifestBytes);
  const { manifest } = verifyForDevice(device, bundle.manifestDoc, device.now(), opts.allowDowngrade);
  const committed = readCommittedVersion(store, device.boot.bootedVersion());
  const active = store.active();
  if ((committed === null || manifest.version > committed) && active?.version !== manifest.version) {
    const snaps = await zfs.snapshots(`${config.zfs.pool}/${config.zfs.dataset}`);
    selectFromBundle(manifest, bundle, snaps.at(-1)?.version ?? null);
  }
  log.info({ bundle: abs, version: manifest.version, bytes: bundle.size }, 'bundle verified');
  const accepted = acceptManifest(device, bundle.manifestDoc, bundleManifestUrl(abs), { allowDowngrade: opts.allowDowngrade ?? false });
  const d = accepted.deployment;
  if (d) store.journal('bundle-opened', d.id, { path: abs, size: bundle.size, streams: bundle.index.streams.map((s) => s.from) });
  if (!d || !isReplaceable(d.phase) || accepted.decision.kind === 'busy') return { accepted, outcome: null };
  return { accepted, outcome: await advanceUntilSettled(device, d.id, opts) };
}
