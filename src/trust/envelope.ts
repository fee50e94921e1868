// Pure envelope check: strict shape, then a threshold of distinct trusted keys over the exact payload bytes.
import { ED25519, nacl } from './nacl.js';
import { ConfigError, TrustError } from '../errors.js';
import { decodeBase64Strict, decodePublicKey } from './keys.js';
import type { TrustedKey } from './manifest-types.js';

function format(message: string, context: Record<string, unknown> = {}, cause?: unknown): TrustError {
  return new TrustError('E_MANIFEST_FORMAT', message, { context, cause });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Decodes UTF-8 refusing invalid sequences (TextDecoder would otherwise substitute U+FFFD). */
export function decodeUtf8Strict(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** The ed25519 group order: 2^252 + 27742317777372353535851937790883648493. */
const GROUP_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

/**
 * True when the signature's scalar S (bytes 32..63, little-endian) is below the group order. tweetnacl's verify
 * also accepts S + L, a second valid-looking encoding of the same signature (RFC 8032 §5.1.7 requires S < L).
 */
export function hasCanonicalScalar(sig: Uint8Array): boolean {
  if (sig.length !== ED25519.signatureLength) return false;
  const s = BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`);
  return s < GROUP_ORDER;
}

interface ParsedEnvelope {
  payload: Buffer;
  signatures: { keyid: string; sig: string }[];
}

function parseEnvelope(documentBytes: Uint8Array): ParsedEnvelope {
  const text = decodeUtf8Strict(documentBytes);
  if (text === null) throw format('manifest document is not valid UTF-8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw format('manifest document is not valid JSON', {}, err);
  }
  if (!isPlainObject(doc)) throw format('manifest document must be a JSON object');
  for (const key of Object.keys(doc)) {
    if (key !== 'payload' && key !== 'signatures') throw format(`manifest envelope has unknown key "${key}"`, { key });
  }
  if (typeof doc.payload !== 'string') throw format('manifest envelope needs a string "payload"');
  const payload = decodeBase64Strict(doc.payload);
  if (payload === null) throw format('manifest payload is not canonical base64');
  if (!('signatures' in doc)) throw new TrustError('E_MANIFEST_UNSIGNED', 'manifest envelope has no "signatures"');
  const sigs = doc.signatures;
  if (!Array.isArray(sigs)) throw format('manifest "signatures" must be an array');
  if (sigs.length === 0) throw new TrustError('E_MANIFEST_UNSIGNED', 'manifest signature list is empty');
  const signatures = sigs.map((s: unknown, i) => {
    if (!isPlainObject(s)) throw format(`signatures[${i}] must be an object`, { index: i });
    const keys = Object.keys(s);
    if (keys.length !== 2 || typeof s.keyid !== 'string' || typeof s.sig !== 'string') {
      throw format(`signatures[${i}] must have exactly string "keyid" and "sig"`, { index: i });
    }
    return { keyid: s.keyid, sig: s.sig };
  });
  return { payload, signatures };
}

/**
 * Returns the payload bytes only if at least `threshold` distinct trusted keyids signed them. The payload is
 * not parsed here: nothing inside it is looked at before its signatures are known good.
 */
export function verifyEnvelope(documentBytes: Uint8Array, trusted: readonly TrustedKey[], threshold: number): Buffer {
  // A zero threshold would accept anything: treat it as the configuration bug it is, never as "no check".
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new ConfigError('E_CONFIG_INVALID', `signature threshold must be an integer >= 1 (got ${String(threshold)})`, {
      context: { threshold },
    });
  }
  const keys = new Map<string, Uint8Array>();
  trusted.forEach((k, i) => keys.set(k.keyid, decodePublicKey(k, `trusted key ${i}`)));

  const { payload, signatures } = parseEnvelope(documentBytes);
  const valid = new Set<string>();
  for (const { keyid, sig } of signatures) {
    if (valid.has(keyid)) continue; // a key counts once, however many times it signed
    const publicKey = keys.get(keyid);
    if (publicKey === undefined) continue;
    const sigBytes = decodeBase64Strict(sig);
    if (sigBytes === null || !hasCanonicalScalar(sigBytes)) continue; // also refuses a length other than 64
    if (nacl().sign.detached.verify(payload, sigBytes, publicKey)) valid.add(keyid);
  }
  if (valid.size < threshold) {
    throw new TrustError(
      'E_MANIFEST_SIGNATURE',
      `manifest has ${valid.size} valid signature(s) from distinct trusted keys; ${threshold} required`,
      { context: { valid: valid.size, threshold } },
    );
  }
  return payload;
}
