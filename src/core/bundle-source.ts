// The download step's bundle source: a deployment accepted from a bundle (`file:` manifest URL) copies from it.
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Device } from './device.js';
import type { Deployment } from '../state/store.js';
import type { Manifest, StreamOffer } from '../trust/manifest-types.js';
import { bundledManifest, bundledStream, openBundle, type OpenedBundle } from '../steps/bundle.js';
import { copyFromBundle } from '../steps/prefetch-bundle.js';
import { DownloadError } from '../errors.js';
import { selectStream } from './decide.js';

/** The manifest URL recorded for a deployment from a bundle: where its manifest came from, the bundle file. */
export const bundleManifestUrl = (absPath: string): string => pathToFileURL(absPath).toString();

export interface BundleSource {
  bundle: OpenedBundle;
}

/** null for a deployment from the fleet; else the bundle, re-indexed (it may have been replaced since). */
export async function bundleSource(ctx: Pick<Device, 'config'>, d: Deployment): Promise<BundleSource | null> {
  if (!d.manifestUrl?.startsWith('file:')) return null;
  return { bundle: await openBundle(fileURLToPath(d.manifestUrl), ctx.config.trust.maxManifestBytes) };
}

/** The stream choice (delta from `base`, else full) among the signed offers the bundle carries. */
export function selectFromBundle(m: Manifest, bundle: OpenedBundle, base: number | null): StreamOffer {
  try {
    return selectStream(bundledManifest(m, bundle.entries), base);
  } catch (err) {
    throw new DownloadError('E_BUNDLE_STREAM_MISSING', `bundle ${bundle.path} holds no stream of ${m.version} from base ${base ?? '(none)'} and no full stream`, {
      cause: err, context: { bundle: bundle.path, version: m.version, base, carried: bundledManifest(m, bundle.entries).streams.map((s) => s.from) },
    });
  }
}

export async function copyStreamFromBundle(ctx: Device, d: Deployment, src: BundleSource, stream: StreamOffer, partialPath: string): Promise<void> {
  const { config, store, log, now } = ctx;
  const entry = bundledStream(src.bundle.entries, stream);
  if (!entry) {
    throw new DownloadError('E_BUNDLE_STREAM_MISSING', `bundle ${src.bundle.path} no longer holds the stream from ${stream.from ?? 'full'} (sha256 ${stream.sha256})`, {
      context: { bundle: src.bundle.path, from: stream.from, sha256: stream.sha256 },
    });
  }
  const res = await copyFromBundle({
    bundlePath: src.bundle.path,
    entry,
    size: stream.size,
    sha256: stream.sha256,
    partialPath,
    onProgress: (bytes) => {
      store.update(d.id, { downloadUrl: d.manifestUrl, downloadValidator: null, downloadedBytes: bytes });
      log.info({ id: d.id, version: d.version, bytes, size: stream.size }, 'copy progress');
    },
    onBytes: ctx.progress && ((done, total) => ctx.progress?.bytes(done, total)),
    checkpointBytes: config.download.chunkFsyncBytes,
    maxBytesPerSec: config.download.maxBytesPerSec,
    now,
    log,
  });
  store.journal('downloaded', d.id, { url: d.manifestUrl, bytes: res.bytes, sha256: res.sha256, bundle: src.bundle.path });
}
