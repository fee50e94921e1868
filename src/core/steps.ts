// Glue between a deployment row and the step modules: each step reads what it needs and checks what is true first.
import type { Device } from './device.js';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Deployment } from '../state/store.js';
import type { Manifest, StreamOffer } from '../trust/manifest-types.js';
import { parseManifestPayload } from '../trust/manifest.js';
import { recordedStream } from './decide.js';
import { chooseStream } from './stream-source.js';
import { applyRetention } from './cleanup.js';
import { downloadStream } from '../steps/prefetch.js';
import { importStream } from '../steps/import.js';
import { exportImage } from '../steps/export.js';
import { SpaceError } from '../errors.js';
import { fsyncDir } from '../util/atomic-file.js';
import { fileIdentity } from '../util/file-identity.js';
import { bundleSource, copyStreamFromBundle, selectFromBundle } from './bundle-source.js';

/** Where a deployment's stream lives: `.part` while downloading, the bare name once complete and hashed. */
export function streamPaths(downloadsDir: string, d: Pick<Deployment, 'id' | 'version' | 'streamFrom'>): { partial: string; complete: string } {
  const base = join(downloadsDir, `${d.id}-${d.streamFrom ?? 'full'}-${d.version}.zfs`);
  return { partial: `${base}.part`, complete: base };
}

/** The signed payload stored with the deployment (its signatures were verified when it was accepted). */
export function manifestOf(d: Deployment): Manifest {
  const env = JSON.parse(Buffer.from(d.envelope).toString('utf8')) as { payload: string };
  return parseManifestPayload(Buffer.from(env.payload, 'base64'));
}

const chosenStream = (m: Manifest, d: Deployment): StreamOffer => recordedStream(m, d);

export async function runDownload(ctx: Device, d0: Deployment): Promise<void> {
  const { config, store, zfs, dispatcher, log, now } = ctx;
  let d = d0;
  const m = manifestOf(d);
  const bundle = await bundleSource(ctx, d);
  if (d.streamSha256 === null) {
    // First entry: choose delta-from-base, an on-demand diff or full once, and persist the choice before fetching anything.
    const dataset = `${config.zfs.pool}/${config.zfs.dataset}`;
    const snaps = await zfs.snapshots(dataset);
    const base = snaps.length > 0 ? (snaps[snaps.length - 1]?.version ?? null) : null;
    if (bundle) {
      // From a bundle, only the streams it carries can be chosen.
      const s = selectFromBundle(m, bundle.bundle, base);
      d = store.update(d.id, { streamFrom: s.from, streamSize: s.size, streamSha256: s.sha256, compression: s.compression });
      store.journal('stream-selected', d.id, { from: s.from, size: s.size, base, onDemand: false });
    } else d = await chooseStream(ctx, d, m, base);
  }
  const stream = chosenStream(m, d);
  const paths = streamPaths(config.paths.downloadsDir, d);
  if (existsSync(paths.complete)) return; // hashed and renamed by an earlier run
  mkdirSync(config.paths.downloadsDir, { recursive: true });
  const need = stream.size - d.downloadedBytes + config.space.reserveBytes;
  let free = ctx.space.freeBytes(config.paths.downloadsDir);
  if (free < need) {
    // As the appliance always did: clean up old images before downloading a new one.
    log.warn({ id: d.id, need, free }, 'short of space: applying retention');
    await applyRetention(ctx, false);
    free = ctx.space.freeBytes(config.paths.downloadsDir);
  }
  if (free < need) {
    throw new SpaceError('E_NO_SPACE', `need ${need} bytes free for the download, have ${free}`, {
      context: { path: config.paths.downloadsDir, need, free },
    });
  }
  if (bundle) {
    await copyStreamFromBundle(ctx, d, bundle, stream, paths.partial);
    renameSync(paths.partial, paths.complete);
    fsyncDir(config.paths.downloadsDir);
    return;
  }
  const res = await downloadStream({
    urls: stream.urls,
    baseUrl: d.manifestUrl ?? undefined,
    size: stream.size,
    sha256: stream.sha256,
    partialPath: paths.partial,
    saved: d.downloadUrl ? { url: d.downloadUrl, validator: d.downloadValidator ?? undefined } : null,
    onProgress: (p) => {
      store.update(d.id, { downloadUrl: p.url, downloadValidator: p.validator, downloadedBytes: p.bytes });
      log.info({ id: d.id, version: d.version, bytes: p.bytes, size: stream.size }, 'download progress');
    },
    onBytes: ctx.progress && ((done, total) => ctx.progress?.bytes(done, total)),
    dispatcher,
    limits: {
      minBytesPerSec: config.download.minBytesPerSec,
      slowWindowSec: config.download.slowWindowSec,
      deadlineSec: config.download.deadlineSec,
      headersTimeoutSec: config.download.headersTimeoutSec,
      maxRedirects: config.http.maxRedirects,
      maxBytesPerSec: config.download.maxBytesPerSec,
    },
    checkpointBytes: config.download.chunkFsyncBytes,
    now,
    log,
  });
  renameSync(paths.partial, paths.complete);
  fsyncDir(config.paths.downloadsDir);
  store.journal('downloaded', d.id, { url: res.url, bytes: res.bytes, sha256: res.sha256 });
}

export async function runImport(ctx: Device, d: Deployment): Promise<void> {
  const { config, zfs, log, store, decompressor } = ctx;
  const m = manifestOf(d);
  const stream = chosenStream(m, d);
  const paths = streamPaths(config.paths.downloadsDir, d);
  const result = await importStream(
    { zfs, log, decompressor },
    {
      streamPath: paths.complete,
      size: stream.size,
      sha256: stream.sha256,
      chunks: stream.chunks,
      compression: stream.compression,
      pool: config.zfs.pool,
      dataset: config.zfs.dataset,
      fromVersion: stream.from,
      toVersion: d.version,
      busyTimeoutSec: config.zfs.busyTimeoutSec,
    },
  );
  store.journal('imported', d.id, { result });
  // The snapshot is the durable copy now; the stream file only costs space.
  rmSync(paths.complete, { force: true });
  rmSync(paths.partial, { force: true });
}

export async function runExport(ctx: Device, d: Deployment): Promise<void> {
  const { config, zfs, log, store } = ctx;
  const exportOnce = (): ReturnType<typeof exportImage> => exportImage(
    { zfs, log },
    {
      pool: config.zfs.pool,
      dataset: config.zfs.dataset,
      layout: config.zfs.layout,
      imageFile: config.zfs.imageFile,
      version: d.version,
      imagesDir: config.paths.imagesDir,
      size: d.imageSize,
      sha256: d.imageSha256,
      reserveBytes: config.space.reserveBytes,
    },
  );
  let result;
  try {
    result = await exportOnce();
  } catch (err) {
    if (!(err instanceof SpaceError)) throw err;
    log.warn({ id: d.id, err: err.message }, 'short of space for the image: applying retention');
    await applyRetention(ctx, false);
    result = await exportOnce();
  }
  const path = join(config.paths.imagesDir, `${d.version}.img`);
  // Remember the verified file's identity: the switch window re-hashes only if the file changed since.
  store.setVerifiedImage(d.version, fileIdentity(path));
  store.journal('exported', d.id, { result, path });
}
