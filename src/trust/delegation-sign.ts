// The signing side of on-demand diffs: the offline delegation (at publish time) and the online diff statement.
import { decodeBase64Strict, publicKeyOf, type SecretKey } from './keys.js';
import { signPayload } from './sign.js';
import { payloadDigest, type Delegation, type DiffStatement } from './delegation.js';
import type { Compression, Envelope } from './manifest-types.js';
import { TrustError } from '../errors.js';

export interface DelegationTerms {
  delegate: SecretKey | { keyid: string; publicKey: string };
  bases: { min: number; max: number };
  notAfter: string;
  maxSize: number;
  compression: Compression;
}

/** The sha256 of a manifest envelope's signed payload bytes. */
export function manifestPayloadSha256(manifest: Envelope): string {
  const payload = decodeBase64Strict(manifest.payload);
  if (payload === null) throw new TrustError('E_MANIFEST_FORMAT', 'manifest payload is not canonical base64');
  return payloadDigest(payload);
}

/** Signs (with the offline keys) a delegation bound to exactly this manifest envelope's payload. */
export function signDelegation(manifest: Envelope, version: number, terms: DelegationTerms, offlineKeys: readonly SecretKey[]): Envelope {
  const key = 'secretKey' in terms.delegate ? publicKeyOf(terms.delegate) : terms.delegate;
  const d: Delegation = {
    schema: 1, kind: 'diff-delegation', version, manifestSha256: manifestPayloadSha256(manifest),
    key: { keyid: key.keyid, publicKey: key.publicKey }, bases: terms.bases, notAfter: terms.notAfter, maxSize: terms.maxSize, compression: terms.compression,
  };
  return signPayload(Buffer.from(JSON.stringify(d)), offlineKeys);
}

/** Signs (with the online key) what a built diff is. */
export function signDiffStatement(s: Omit<DiffStatement, 'schema' | 'kind'>, delegate: SecretKey): Envelope {
  const full: DiffStatement = { schema: 1, kind: 'diff-statement', ...s };
  return signPayload(Buffer.from(JSON.stringify(full)), [delegate]);
}
