// Publisher side: ed25519 detached signatures over the raw payload bytes, one per key, multi-party friendly.
import { nacl } from './nacl.js';
import { TrustError } from '../errors.js';
import { decodeBase64Strict, decodeSecretKey, type SecretKey } from './keys.js';
import type { Envelope } from './manifest-types.js';

function signOne(payload: Uint8Array, key: SecretKey): { keyid: string; sig: string } {
  const sk = decodeSecretKey(key);
  return { keyid: key.keyid, sig: Buffer.from(nacl().sign.detached(payload, sk)).toString('base64') };
}

/** Wraps `payload` in an envelope signed by every key (duplicates signed once). */
export function signPayload(payload: Uint8Array, secretKeys: readonly SecretKey[]): Envelope {
  // An envelope with no signature is useless to every device; refusing here surfaces the mistake early.
  if (secretKeys.length === 0) throw new TrustError('E_MANIFEST_UNSIGNED', 'signPayload needs at least one secret key');
  let envelope: Envelope = { payload: Buffer.from(payload).toString('base64'), signatures: [] };
  for (const key of secretKeys) envelope = addSignature(envelope, key);
  return envelope;
}

/**
 * Returns a copy of `envelope` with a signature by `secretKey` added; a signature already there for the same
 * keyid is replaced (so re-signing is idempotent and never counts the key twice).
 */
export function addSignature(envelope: Envelope, secretKey: SecretKey): Envelope {
  const payload = decodeBase64Strict(envelope.payload);
  if (payload === null) throw new TrustError('E_MANIFEST_FORMAT', 'envelope payload is not canonical base64');
  const others = envelope.signatures.filter((s) => s.keyid !== secretKey.keyid).map((s) => ({ ...s }));
  return { payload: envelope.payload, signatures: [...others, signOne(payload, secretKey)] };
}
