// The offline update bundle (docs/bundles.md): a tar of an index, the signed manifest and streams named by sha256.
import { open, type FileHandle } from 'node:fs/promises';
import { DownloadError, TrustError, UpgradeError } from '../errors.js';
import type { Manifest, StreamOffer } from '../trust/manifest-types.js';
import { indexTar, TarError, type TarEntry } from '../util/tar.js';

/** Entry names: persisted in every bundle ever written, never change them. */
export const BUNDLE_INDEX = 'upgrade-bundle.json';
export const BUNDLE_MANIFEST = 'manifest.json';
export const BUNDLE_FORMAT = 'upgrade-agent-bundle';
/** Streams are content-addressed: the signed manifest names the sha256, so the unsigned index decides nothing. */
export const bundleStreamName = (sha256: string): string => `streams/${sha256}`;
const MAX_INDEX_BYTES = 1 << 20;

/** The first entry: what a person (or `tar -xOf F upgrade-bundle.json`) reads; informative only. */
export interface BundleIndex {
  format: typeof BUNDLE_FORMAT;
  schema: 1;
  version: number;
  streams: { from: number | null; size: number; sha256: string; compression: string }[];
}

export interface OpenedBundle {
  path: string;
  size: number;
  index: BundleIndex;
  /** The signed envelope exactly as the publisher wrote it. */
  manifestDoc: Buffer;
  entries: ReadonlyMap<string, TarEntry>;
}

/** A file the agent cannot read (gone, unmounted, EIO): transient, the stick may come back. */
export function unreadable(path: string, err: unknown): UpgradeError {
  if (err instanceof UpgradeError) return err;
  return new DownloadError('E_BUNDLE_UNREADABLE', `bundle ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, context: { path } });
}

const invalid = (path: string, why: string, cause?: unknown): UpgradeError =>
  new DownloadError('E_BUNDLE_INVALID', `${path} is not an update bundle: ${why}`, { cause, context: { path, why } });

export async function readEntry(fh: FileHandle, e: TarEntry): Promise<Buffer> {
  const buf = Buffer.alloc(e.size);
  let got = 0;
  while (got < e.size) {
    const { bytesRead } = await fh.read(buf, got, e.size - got, e.offset + got);
    if (bytesRead === 0) throw new Error(`short read at ${e.offset + got}`);
    got += bytesRead;
  }
  return buf;
}

function parseIndex(path: string, doc: Buffer): BundleIndex {
  let v: unknown;
  try {
    v = JSON.parse(doc.toString('utf8'));
  } catch (err) {
    throw invalid(path, `${BUNDLE_INDEX} is not JSON`, err);
  }
  const o = v as Partial<BundleIndex> | null;
  if (!o || o.format !== BUNDLE_FORMAT || o.schema !== 1 || !Number.isInteger(o.version) || !Array.isArray(o.streams)) {
    throw invalid(path, `${BUNDLE_INDEX} is not a schema 1 ${BUNDLE_FORMAT} index`);
  }
  return o as BundleIndex;
}

/**
 * Indexes a bundle by its headers (positional reads, no stream is read) and reads its index and manifest. Throws
 * E_BUNDLE_INVALID (no tar, index not first, no manifest), E_BUNDLE_TRUNCATED (cut short anywhere, end marker
 * included), E_MANIFEST_TOO_LARGE, or E_BUNDLE_UNREADABLE.
 */
export async function openBundle(path: string, maxManifestBytes: number): Promise<OpenedBundle> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw unreadable(path, err);
  }
  try {
    const st = await fh.stat().catch((err: unknown) => Promise.reject(unreadable(path, err)));
    if (st.isDirectory()) throw invalid(path, 'a directory');
    const { size } = st;
    let list: TarEntry[];
    try {
      list = await indexTar(async (buf, pos) => (await fh.read(buf, 0, buf.length, pos)).bytesRead, size);
    } catch (err) {
      if (!(err instanceof TarError)) throw unreadable(path, err);
      if (err.kind === 'truncated') {
        throw new DownloadError('E_BUNDLE_TRUNCATED', `bundle ${path} is cut short: ${err.message}`, { cause: err, context: { path, size, at: err.offset } });
      }
      throw invalid(path, err.message, err);
    }
    const first = list[0];
    if (first?.name !== BUNDLE_INDEX) throw invalid(path, `its first entry is ${first ? first.name : 'missing'}, not ${BUNDLE_INDEX}`);
    if (first.size > MAX_INDEX_BYTES) throw invalid(path, `${BUNDLE_INDEX} is ${first.size} bytes`);
    const entries = new Map(list.map((e) => [e.name, e]));
    const m = entries.get(BUNDLE_MANIFEST);
    if (!m) throw invalid(path, `no ${BUNDLE_MANIFEST} in it`);
    if (m.size > maxManifestBytes) {
      throw new TrustError('E_MANIFEST_TOO_LARGE', `manifest in ${path} exceeds ${maxManifestBytes} bytes`, { context: { path, max: maxManifestBytes } });
    }
    const index = parseIndex(path, await readEntry(fh, first).catch((err: unknown) => Promise.reject(unreadable(path, err))));
    const manifestDoc = await readEntry(fh, m).catch((err: unknown) => Promise.reject(unreadable(path, err)));
    return { path, size, index, manifestDoc, entries };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** The bundle's entry for a signed stream offer: present only under its sha256 and with the signed size. */
export function bundledStream(entries: ReadonlyMap<string, TarEntry>, s: Pick<StreamOffer, 'sha256' | 'size'>): TarEntry | null {
  const e = entries.get(bundleStreamName(s.sha256));
  return e && e.size === s.size ? e : null;
}

/** The manifest cut down to the streams the bundle carries (what the stream choice may pick from). Pure. */
export function bundledManifest(m: Manifest, entries: ReadonlyMap<string, TarEntry>): Manifest {
  return { ...m, streams: m.streams.filter((s) => bundledStream(entries, s) !== null) };
}
