// Publisher: zfs send (-i) streams between snapshots, compressed and hashed as they stream, plus a signed manifest.
import { mkdirSync, existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Zfs } from '../adapters/zfs.js';
import type { SecretKey } from '../trust/keys.js';
import type { Compression, Manifest, StreamOffer } from '../trust/manifest-types.js';
import { signPayload } from '../trust/sign.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { sha256OfFd } from '../util/sha256.js';
import { UpgradeError, UsageError } from '../errors.js';
import { withSnapshotFile } from '../steps/snapshot-file.js';
import { chunkList } from './chunk-list.js';
import { writeSendStream } from './send-stream.js';
import { silentLogger } from '../log.js';

export interface PublishOptions {
  dataset: string;
  outDir: string;
  version: number;
  label: string;
  hardware: string[];
  channel: string;
  expiresDays: number;
  /** Base versions to make incremental streams from, or every earlier snapshot. */
  from: number[] | 'all';
  full: boolean;
  compression: Compression;
  /** Absolute URL prefixes of mirrors serving the same directory (added after the relative URL). */
  mirrors: string[];
  imageFile: string;
  keys: SecretKey[];
  /** Sign per-chunk hashes of each stream (docs/protocol.md, "Chunk hashes"); agents before them refuse the field. */
  chunks?: boolean;
}

export interface PublishResult {
  manifest: string;
  version: number;
  image: { size: number; sha256: string };
  streams: { from: number | null; file: string; size: number; sha256: string }[];
}

export const streamFileName = (from: number | null, to: number, c: Compression): string =>
  `${from === null ? 'full' : from}-${to}.zfs${c === 'xz' ? '.xz' : ''}`;

/** Size and sha256 of the image file inside a snapshot, read through a temporary read-only clone. */
function imageDigest(zfs: Zfs, dataset: string, version: number, imageFile: string): Promise<{ size: number; sha256: string }> {
  return withSnapshotFile({ zfs, log: silentLogger() }, `${dataset}@${version}`, `${dataset}.publish-${version}`, imageFile, async (path) => {
    const fh = await open(path, 'r');
    try {
      return await sha256OfFd(fh.fd);
    } finally {
      await fh.close();
    }
  });
}

export async function publish(deps: { zfs: Zfs; now: () => number }, o: PublishOptions): Promise<PublishResult> {
  const { zfs } = deps;
  if (o.keys.length === 0) throw new UsageError('E_USAGE', 'publish needs at least one --key');
  const snaps = await zfs.snapshots(o.dataset);
  if (!snaps.some((s) => s.version === o.version)) {
    throw new UsageError('E_USAGE', `${o.dataset}@${o.version} does not exist`, { context: { have: snaps.map((s) => s.version) } });
  }
  const bases = o.from === 'all' ? snaps.filter((s) => s.version < o.version).map((s) => s.version) : o.from;
  for (const b of bases) {
    if (b >= o.version || !snaps.some((s) => s.version === b)) throw new UsageError('E_USAGE', `no usable base snapshot ${o.dataset}@${b}`);
  }
  mkdirSync(join(o.outDir, 'streams'), { recursive: true });
  mkdirSync(join(o.outDir, 'manifests'), { recursive: true });
  const image = await imageDigest(zfs, o.dataset, o.version, o.imageFile);
  const offers: StreamOffer[] = [];
  const made: PublishResult['streams'] = [];
  for (const from of [...bases, ...(o.full ? [null] : [])]) {
    const file = streamFileName(from, o.version, o.compression);
    const path = join(o.outDir, 'streams', file);
    const fromSnap = from === null ? undefined : `${o.dataset}@${from}`;
    const digest = await writeSendStream(zfs, `${o.dataset}@${o.version}`, fromSnap, path, o.compression);
    offers.push({
      from,
      urls: [`../streams/${file}`, ...o.mirrors.map((m) => `${m.replace(/\/+$/, '')}/streams/${file}`)],
      size: digest.size,
      sha256: digest.sha256,
      compression: o.compression,
      ...(o.chunks === true ? { chunks: await chunkList(path) } : {}),
    });
    made.push({ from, file: path, ...digest });
  }
  const issued = new Date(deps.now());
  const manifest: Manifest = {
    schema: 1,
    version: o.version,
    label: o.label,
    hardware: o.hardware,
    channel: o.channel,
    issued: issued.toISOString(),
    expires: new Date(issued.getTime() + o.expiresDays * 86_400_000).toISOString(),
    image,
    streams: offers,
  };
  const manifestPath = join(o.outDir, 'manifests', `${o.version}.json`);
  writeFileAtomic(manifestPath, JSON.stringify(signPayload(Buffer.from(JSON.stringify(manifest)), o.keys)));
  if (!existsSync(manifestPath)) throw new UpgradeError('E_INTERNAL', `manifest ${manifestPath} was not written`);
  return { manifest: manifestPath, version: o.version, image, streams: made };
}
