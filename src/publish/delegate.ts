// `upgradectl delegate`: the offline step that lets the fleet server's online key vouch for diffs built on demand.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { publicKeyOf, type SecretKey } from '../trust/keys.js';
import type { Compression, Envelope, TrustedKey } from '../trust/manifest-types.js';
import { verifyEnvelope } from '../trust/envelope.js';
import { signDelegation } from '../trust/delegation-sign.js';
import { writeFileAtomic } from '../util/atomic-file.js';

export interface DelegateOptions {
  publishDir: string;
  version: number;
  /** The offline keys: as many as the devices' trust.threshold. */
  keys: SecretKey[];
  /** The public half of the fleet server's diffs.delegateKeyFile. */
  online: TrustedKey;
  bases: { min: number; max: number };
  notAfter: Date;
  maxSize: number;
  compression: Compression;
}

/** Signs `delegations/<version>.json` for the manifest in `manifests/<version>.json`; the path written. */
export function writeDelegation(o: DelegateOptions, now: Date): string {
  if (o.bases.min < 1 || o.bases.max < o.bases.min || o.bases.max >= o.version) {
    throw new UsageError('E_USAGE', `--bases ${o.bases.min}-${o.bases.max}: bases are versions from 1 up to ${o.version - 1}, low to high`);
  }
  if (!(o.notAfter.getTime() > now.getTime())) throw new UsageError('E_USAGE', `--not-after ${o.notAfter.toISOString()} is not in the future`);
  if (!(o.maxSize > 0)) throw new UsageError('E_USAGE', '--max-size must be a positive number of bytes');
  const manifestPath = join(o.publishDir, 'manifests', `${o.version}.json`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(manifestPath);
  } catch (err) {
    throw new UsageError('E_USAGE', `no manifest for version ${o.version} at ${manifestPath} (publish it first)`, { cause: err });
  }
  // Bound to this manifest's exact payload, and signed by every key given: a manifest those keys did not sign is refused.
  verifyEnvelope(bytes, o.keys.map(publicKeyOf), o.keys.length);
  const manifest = JSON.parse(bytes.toString('utf8')) as Envelope;
  const env = signDelegation(manifest, o.version, { delegate: o.online, bases: o.bases, notAfter: o.notAfter.toISOString(), maxSize: o.maxSize, compression: o.compression }, o.keys);
  mkdirSync(join(o.publishDir, 'delegations'), { recursive: true });
  const out = join(o.publishDir, 'delegations', `${o.version}.json`);
  writeFileAtomic(out, JSON.stringify(env));
  return out;
}
