// Ed25519 signing keys: generation, keyids, strict decoding, and the publisher's key files.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { TrustError } from '../errors.js';
import { tmpPathFor, writeFileAtomic } from '../util/atomic-file.js';
import type { TrustedKey } from './manifest-types.js';
import { ED25519, nacl } from './nacl.js';

/** A signing key as stored on disk: base64 of tweetnacl's 64-byte secret key (seed || public key). */
export interface SecretKey {
  keyid: string;
  secretKey: string;
}

export interface KeyPair extends SecretKey, TrustedKey {}

const KEYID_RE = /^[0-9a-f]{16}$/;

/** keyid = first 16 hex chars of sha256(public key): derived, so it cannot be chosen to impersonate a key. */
export function keyidOf(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

/**
 * Decodes base64, or returns null when `text` is not canonical base64. Buffer.from() silently skips junk,
 * accepts url-safe letters and missing padding; re-encoding and comparing refuses all of that.
 */
export function decodeBase64Strict(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}

export function generateKeyPair(): KeyPair {
  const kp = nacl().sign.keyPair();
  return {
    keyid: keyidOf(kp.publicKey),
    publicKey: Buffer.from(kp.publicKey).toString('base64'),
    secretKey: Buffer.from(kp.secretKey).toString('base64'),
  };
}

function invalid(message: string, context: Record<string, unknown> = {}, cause?: unknown): TrustError {
  return new TrustError('E_KEY_INVALID', message, { context, cause });
}

/** Checks a trusted public key and returns its 32 raw bytes. */
export function decodePublicKey(key: TrustedKey, where = 'public key'): Uint8Array {
  if (typeof key.keyid !== 'string' || !KEYID_RE.test(key.keyid)) {
    throw invalid(`${where}: keyid must be 16 lowercase hex characters`, { keyid: key.keyid });
  }
  const bytes = typeof key.publicKey === 'string' ? decodeBase64Strict(key.publicKey) : null;
  if (bytes === null || bytes.length !== ED25519.publicKeyLength) {
    throw invalid(`${where}: publicKey must be canonical base64 of ${ED25519.publicKeyLength} bytes`, { keyid: key.keyid });
  }
  const actual = keyidOf(bytes);
  if (actual !== key.keyid) {
    throw invalid(`${where}: keyid ${key.keyid} does not match its public key (expected ${actual})`, { keyid: key.keyid, actual });
  }
  return new Uint8Array(bytes);
}

/** Checks a secret key (length, internal consistency, keyid) and returns its 64 raw bytes. */
export function decodeSecretKey(key: SecretKey, where = 'secret key'): Uint8Array {
  if (typeof key.keyid !== 'string' || !KEYID_RE.test(key.keyid)) {
    throw invalid(`${where}: keyid must be 16 lowercase hex characters`, { keyid: key.keyid });
  }
  const bytes = typeof key.secretKey === 'string' ? decodeBase64Strict(key.secretKey) : null;
  if (bytes === null || bytes.length !== ED25519.secretKeyLength) {
    throw invalid(`${where}: secretKey must be canonical base64 of ${ED25519.secretKeyLength} bytes`, { keyid: key.keyid });
  }
  // The second half is a copy of the public key: a corrupted file would otherwise sign under a wrong keyid.
  const derived = nacl().sign.keyPair.fromSeed(bytes.subarray(0, ED25519.seedLength)).publicKey;
  if (!Buffer.from(derived).equals(bytes.subarray(32))) {
    throw invalid(`${where}: secretKey is corrupt (its public half does not match its seed)`, { keyid: key.keyid });
  }
  const actual = keyidOf(derived);
  if (actual !== key.keyid) {
    throw invalid(`${where}: keyid ${key.keyid} does not match the key (expected ${actual})`, { keyid: key.keyid, actual });
  }
  return new Uint8Array(bytes);
}

/** The public half of a secret key, as a TrustedKey. */
export function publicKeyOf(key: SecretKey): TrustedKey {
  const sk = decodeSecretKey(key);
  return { keyid: key.keyid, publicKey: Buffer.from(sk.subarray(32)).toString('base64') };
}

/** Reads a key file as a JSON object with exactly `fields`, all strings. */
function readKeyFile(path: string, fields: readonly string[]): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw invalid(`cannot read key file ${path}: ${(err as Error).message}`, { path }, err);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw invalid(`key file ${path} is not valid JSON`, { path }, err);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw invalid(`key file ${path} must hold a JSON object`, { path });
  }
  const rec = doc as Record<string, unknown>;
  const keys = Object.keys(rec);
  const extra = keys.filter((k) => !fields.includes(k));
  if (extra.length > 0 || keys.length !== fields.length) {
    throw invalid(`key file ${path} must have exactly the keys ${fields.join(', ')} (found ${keys.join(', ') || 'none'})`, { path });
  }
  for (const f of fields) {
    if (typeof rec[f] !== 'string') throw invalid(`key file ${path}: ${f} must be a string`, { path, key: f });
  }
  return rec as Record<string, string>;
}

export function loadSecretKey(path: string): SecretKey {
  const rec = readKeyFile(path, ['keyid', 'secretKey']);
  const key: SecretKey = { keyid: rec.keyid ?? '', secretKey: rec.secretKey ?? '' };
  decodeSecretKey(key, `key file ${path}`);
  return key;
}

export function loadPublicKey(path: string): TrustedKey {
  const rec = readKeyFile(path, ['keyid', 'publicKey']);
  const key: TrustedKey = { keyid: rec.keyid ?? '', publicKey: rec.publicKey ?? '' };
  decodePublicKey(key, `key file ${path}`);
  return key;
}

/** Writes {"keyid","secretKey"} with mode 0600. */
export function writeSecretKeyFile(path: string, key: SecretKey): void {
  decodeSecretKey(key);
  // A stale temp file left by a crash would keep its old (maybe wider) mode: open() only applies mode on create.
  rmSync(tmpPathFor(path), { force: true });
  writeFileAtomic(path, JSON.stringify({ keyid: key.keyid, secretKey: key.secretKey }) + '\n', 0o600);
}

/** Writes {"keyid","publicKey"}: the file operators put into devices' trust config. */
export function writePublicKeyFile(path: string, key: TrustedKey): void {
  decodePublicKey(key);
  writeFileAtomic(path, JSON.stringify({ keyid: key.keyid, publicKey: key.publicKey }) + '\n', 0o644);
}
