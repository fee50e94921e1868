// Envelope verification: strict shape, distinct trusted signers over the exact payload bytes, every refusal by code.
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { hasCanonicalScalar, verifyEnvelope } from '../../src/trust/envelope.js';
import { generateKeyPair } from '../../src/trust/keys.js';
import type { Envelope } from '../../src/trust/manifest-types.js';
import { addSignature, signPayload } from '../../src/trust/sign.js';
import { makeKeys } from '../support/manifest-fixture.js';
import { refusal } from '../support/refusal.js';

const PAYLOAD = Buffer.from('{"hello":"signed world"}');
const L = 2n ** 252n + 27742317777372353535851937790883648493n; // the ed25519 group order

/** The signature with `add` added to its scalar S (bytes 32..63, little-endian), still 32 bytes. */
function withScalarPlus(sig: Uint8Array, add: bigint): Buffer {
  const s = BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`) + add;
  expect(s < 2n ** 256n).toBe(true);
  const out = Buffer.from(sig);
  out.set(Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse(), 32);
  return out;
}

/** A 64-byte signature whose S is exactly `s` (R left zero): for the bound check alone. */
function withScalar(s: bigint): Buffer {
  const out = Buffer.alloc(64);
  out.set(Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse(), 32);
  return out;
}

const doc = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

describe('verifyEnvelope: accepts', () => {
  it('returns the exact payload bytes signed by one trusted key', () => {
    const { keys, trusted } = makeKeys(1);
    const out = verifyEnvelope(doc(signPayload(PAYLOAD, keys)), trusted, 1);
    expect(Buffer.isBuffer(out)).toBe(true);
    expect(out.equals(PAYLOAD)).toBe(true);
  });

  it('threshold 2 is satisfied by two distinct trusted keys (signed in two steps)', () => {
    const { keys, trusted } = makeKeys(3);
    const [a, b] = keys as [(typeof keys)[0], (typeof keys)[0]];
    const env = addSignature(signPayload(PAYLOAD, [a]), b);
    expect(env.signatures.map((s) => s.keyid)).toEqual([a.keyid, b.keyid]);
    expect(verifyEnvelope(doc(env), trusted, 2).equals(PAYLOAD)).toBe(true);
  });

  it('ignores untrusted and invalid signatures next to enough valid ones', () => {
    const { keys, trusted } = makeKeys(1);
    const env = signPayload(PAYLOAD, [generateKeyPair(), ...keys]);
    env.signatures.unshift({ keyid: trusted[0]!.keyid, sig: Buffer.alloc(64).toString('base64') });
    env.signatures.push({ keyid: trusted[0]!.keyid, sig: 'AAAA' });
    expect(verifyEnvelope(doc(env), trusted, 1).equals(PAYLOAD)).toBe(true);
  });
});

describe('verifyEnvelope: refuses', () => {
  const { keys, trusted } = makeKeys(2);
  const good = (): Envelope => signPayload(PAYLOAD, keys);

  it('an envelope with no signatures key (E_MANIFEST_UNSIGNED)', () => {
    expect(refusal(() => verifyEnvelope(doc({ payload: good().payload }), trusted, 1)).code).toBe('E_MANIFEST_UNSIGNED');
  });

  it('an empty signature list (E_MANIFEST_UNSIGNED)', () => {
    expect(refusal(() => verifyEnvelope(doc({ payload: good().payload, signatures: [] }), trusted, 1)).code).toBe('E_MANIFEST_UNSIGNED');
  });

  it('a manifest signed only by an untrusted key (E_MANIFEST_SIGNATURE)', () => {
    const err = refusal(() => verifyEnvelope(doc(signPayload(PAYLOAD, [generateKeyPair()])), trusted, 1));
    expect(err.code).toBe('E_MANIFEST_SIGNATURE');
    expect(err.context).toEqual({ valid: 0, threshold: 1 });
  });

  it('an untrusted key wearing a trusted keyid (E_MANIFEST_SIGNATURE)', () => {
    const env = signPayload(PAYLOAD, [generateKeyPair()]);
    env.signatures[0]!.keyid = trusted[0]!.keyid;
    expect(refusal(() => verifyEnvelope(doc(env), trusted, 1)).code).toBe('E_MANIFEST_SIGNATURE');
  });

  it('the same key twice toward a threshold of 2 (E_MANIFEST_SIGNATURE)', () => {
    const env = signPayload(PAYLOAD, [keys[0]!]);
    env.signatures.push({ ...env.signatures[0]! });
    expect(env.signatures).toHaveLength(2);
    const err = refusal(() => verifyEnvelope(doc(env), trusted, 2));
    expect(err.code).toBe('E_MANIFEST_SIGNATURE');
    expect(err.context).toEqual({ valid: 1, threshold: 2 });
  });

  it('a payload edited after signing (E_MANIFEST_SIGNATURE)', () => {
    const env = good();
    const bytes = Buffer.from(env.payload, 'base64');
    bytes[3] = (bytes[3] ?? 0) ^ 0x01;
    env.payload = bytes.toString('base64');
    expect(refusal(() => verifyEnvelope(doc(env), trusted, 1)).code).toBe('E_MANIFEST_SIGNATURE');
  });

  it('a signature with one bit flipped (E_MANIFEST_SIGNATURE)', () => {
    const env = signPayload(PAYLOAD, [keys[0]!]);
    const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
    sig[10] = (sig[10] ?? 0) ^ 0x80;
    env.signatures[0]!.sig = sig.toString('base64');
    expect(refusal(() => verifyEnvelope(doc(env), trusted, 1)).code).toBe('E_MANIFEST_SIGNATURE');
  });

  it('a malleated signature (S + L) that tweetnacl alone accepts (E_MANIFEST_SIGNATURE)', () => {
    const env = signPayload(PAYLOAD, [keys[0]!]);
    const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
    const malleated = withScalarPlus(sig, L);
    expect(malleated.equals(sig)).toBe(false);
    // The control: the library's own verify takes it, so only our scalar check can refuse it.
    expect(nacl.sign.detached.verify(PAYLOAD, malleated, Buffer.from(trusted[0]!.publicKey, 'base64'))).toBe(true);
    expect(verifyEnvelope(doc(env), trusted, 1).equals(PAYLOAD)).toBe(true);
    env.signatures[0]!.sig = malleated.toString('base64');
    const err = refusal(() => verifyEnvelope(doc(env), trusted, 1));
    expect(err.code).toBe('E_MANIFEST_SIGNATURE');
    expect(err.context).toEqual({ valid: 0, threshold: 1 });
  });

  it('a scalar at or above the group order, at the boundary', () => {
    expect(hasCanonicalScalar(withScalar(0n))).toBe(true);
    expect(hasCanonicalScalar(withScalar(L - 1n))).toBe(true);
    expect(hasCanonicalScalar(withScalar(L))).toBe(false);
    expect(hasCanonicalScalar(withScalar(2n ** 256n - 1n))).toBe(false);
    expect(hasCanonicalScalar(withScalar(0n).subarray(0, 63))).toBe(false);
  });

  it('a signature that is not 64 bytes (E_MANIFEST_SIGNATURE)', () => {
    const env = signPayload(PAYLOAD, [keys[0]!]);
    env.signatures[0]!.sig = Buffer.from(env.signatures[0]!.sig, 'base64').subarray(0, 63).toString('base64');
    expect(refusal(() => verifyEnvelope(doc(env), trusted, 1)).code).toBe('E_MANIFEST_SIGNATURE');
  });

  it('garbage JSON, non-UTF-8 bytes and non-objects (E_MANIFEST_FORMAT)', () => {
    expect(refusal(() => verifyEnvelope(doc('{"payload": '), trusted, 1)).code).toBe('E_MANIFEST_FORMAT');
    expect(refusal(() => verifyEnvelope(Buffer.from([0x7b, 0xff, 0x7d]), trusted, 1)).code).toBe('E_MANIFEST_FORMAT');
    expect(refusal(() => verifyEnvelope(doc('[]'), trusted, 1)).code).toBe('E_MANIFEST_FORMAT');
    expect(refusal(() => verifyEnvelope(doc('null'), trusted, 1)).code).toBe('E_MANIFEST_FORMAT');
  });

  it('a non-canonical base64 payload, even one that decodes to the signed bytes (E_MANIFEST_FORMAT)', () => {
    const env = signPayload(Buffer.from('23 bytes of signed data'), keys); // 23 % 3 == 2: one '=' of padding
    expect(env.payload).toMatch(/[^=]=$/);
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const last = env.payload.at(-2)!;
    // Setting a padding bit of the last character: Buffer.from() still yields exactly the signed bytes.
    const sloppyBits = env.payload.slice(0, -2) + B64[B64.indexOf(last) | 1] + '=';
    expect(Buffer.from(sloppyBits, 'base64').equals(Buffer.from(env.payload, 'base64'))).toBe(true);
    const mid = env.payload.length >> 1;
    const variants = [sloppyBits, env.payload.slice(0, -1), `${env.payload.slice(0, mid)}\n${env.payload.slice(mid)}`, ` ${env.payload}`];
    for (const payload of variants) {
      expect(refusal(() => verifyEnvelope(doc({ ...env, payload }), trusted, 1)).code).toBe('E_MANIFEST_FORMAT');
    }
    expect(verifyEnvelope(doc(env), trusted, 1).toString()).toBe('23 bytes of signed data');
  });

  it('unknown or mistyped envelope fields (E_MANIFEST_FORMAT)', () => {
    const env = good();
    const sig = env.signatures[0]!;
    const bad: unknown[] = [
      { ...env, extra: 1 },
      { signatures: env.signatures },
      { payload: 42, signatures: env.signatures },
      { payload: env.payload, signatures: 'nope' },
      { payload: env.payload, signatures: [null] },
      { payload: env.payload, signatures: [{ keyid: sig.keyid }] },
      { payload: env.payload, signatures: [{ ...sig, note: 'x' }] },
      { payload: env.payload, signatures: [{ keyid: 7, sig: sig.sig }] },
    ];
    for (const b of bad) expect(refusal(() => verifyEnvelope(doc(b), trusted, 1)).code).toBe('E_MANIFEST_FORMAT');
  });

  it('a threshold below 1, even for a well-signed envelope (E_CONFIG_INVALID)', () => {
    expect(refusal(() => verifyEnvelope(doc(good()), trusted, 0)).code).toBe('E_CONFIG_INVALID');
    expect(refusal(() => verifyEnvelope(doc(good()), trusted, -1)).code).toBe('E_CONFIG_INVALID');
    expect(refusal(() => verifyEnvelope(doc(good()), trusted, 1.5)).code).toBe('E_CONFIG_INVALID');
  });

  it('an empty trusted list (E_MANIFEST_SIGNATURE)', () => {
    expect(refusal(() => verifyEnvelope(doc(good()), [], 1)).code).toBe('E_MANIFEST_SIGNATURE');
  });

  it('a trusted key whose keyid does not match its public key (E_KEY_INVALID)', () => {
    const lying = [{ keyid: trusted[0]!.keyid, publicKey: trusted[1]!.publicKey }];
    expect(refusal(() => verifyEnvelope(doc(good()), lying, 1)).code).toBe('E_KEY_INVALID');
  });
});
