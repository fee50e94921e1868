// upgradectl bundle: a publish directory's signed manifest and the streams a device needs, in one tar (docs/bundles.md).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { parseManifestPayload } from '../trust/manifest.js';
import { BUNDLE_FORMAT, BUNDLE_INDEX, BUNDLE_MANIFEST, bundleStreamName, type BundleIndex } from '../steps/bundle.js';
import { commitRename } from '../util/atomic-file.js';
import { TarWriter } from '../util/tar.js';
import { streamFileName } from './publish.js';

export interface BundleOptions {
  publishDir: string;
  version: number;
  /** Bases whose diffs go in (null: the full stream), or every stream the manifest offers. */
  from: (number | null)[] | 'all';
  out: string;
}

export interface BundleResult {
  bundle: string;
  version: number;
  bytes: number;
  streams: BundleIndex['streams'];
}

/** Writes the bundle to `out` (tmp → fsync → rename): index, signed manifest verbatim, each stream hashed as it is copied. */
export async function writeBundle(o: BundleOptions): Promise<BundleResult> {
  const manifestPath = join(o.publishDir, 'manifests', `${o.version}.json`);
  if (!existsSync(manifestPath)) throw new UsageError('E_USAGE', `${manifestPath} does not exist (publish version ${o.version} into ${o.publishDir} first)`);
  const doc = readFileSync(manifestPath);
  let m;
  try {
    m = parseManifestPayload(Buffer.from((JSON.parse(doc.toString('utf8')) as { payload: string }).payload, 'base64'));
  } catch (err) {
    throw new UsageError('E_USAGE', `${manifestPath} is not a signed manifest envelope`, { cause: err });
  }
  if (m.version !== o.version) throw new UsageError('E_USAGE', `${manifestPath} is for version ${m.version}`);
  const offers = o.from === 'all' ? m.streams : o.from.map((f) => {
    const s = m.streams.find((x) => x.from === f);
    if (!s) throw new UsageError('E_USAGE', `manifest ${o.version} offers no stream from ${f ?? 'full'} (it has ${m.streams.map((x) => x.from ?? 'full').join(', ')})`);
    return s;
  });
  if (offers.length === 0) throw new UsageError('E_USAGE', `manifest ${o.version} offers no stream`);
  const index: BundleIndex = {
    format: BUNDLE_FORMAT, schema: 1, version: m.version,
    streams: offers.map((s) => ({ from: s.from, size: s.size, sha256: s.sha256, compression: s.compression })),
  };
  const tmp = `${o.out}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    const tar = new TarWriter(fh);
    await tar.addBuffer(BUNDLE_INDEX, Buffer.from(`${JSON.stringify(index, null, 2)}\n`));
    await tar.addBuffer(BUNDLE_MANIFEST, doc);
    for (const s of offers) {
      const file = join(o.publishDir, 'streams', streamFileName(s.from, m.version, s.compression));
      if (!existsSync(file) || statSync(file).size !== s.size) {
        throw new UsageError('E_USAGE', `${file} is missing or not the ${s.size} bytes the manifest signs`);
      }
      const hash = createHash('sha256');
      await tar.addStream(bundleStreamName(s.sha256), s.size, createReadStream(file, { highWaterMark: 1 << 20 }), (b) => hash.update(b));
      if (hash.digest('hex') !== s.sha256) throw new UsageError('E_USAGE', `${file} does not match the sha256 the manifest signs`);
    }
    await tar.end();
    await fh.sync();
    await fh.close();
    commitRename(tmp, o.out);
  } catch (err) {
    await fh.close().catch(() => undefined);
    rmSync(tmp, { force: true });
    throw err;
  }
  return { bundle: o.out, version: m.version, bytes: statSync(o.out).size, streams: index.streams };
}
