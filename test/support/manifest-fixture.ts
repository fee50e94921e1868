// Test helpers: a valid manifest with overridable fields, and signing it into envelope bytes.
import { generateKeyPair, type KeyPair, type SecretKey } from '../../src/trust/keys.js';
import type { Manifest, TrustedKey } from '../../src/trust/manifest-types.js';
import { signPayload } from '../../src/trust/sign.js';

export const FIXTURE_HARDWARE = 'test-board';
export const FIXTURE_CHANNEL = 'stable';

const DAY_MS = 24 * 3600 * 1000;
const hex = (c: string): string => c.repeat(64);

/** Whole-second ISO instant relative to the real clock, so defaults stay valid whenever tests run. */
export function isoFromNow(offsetMs: number): string {
  return new Date(Math.floor((Date.now() + offsetMs) / 1000) * 1000).toISOString();
}

/**
 * A manifest that passes parseManifestPayload and, with FIXTURE_HARDWARE/FIXTURE_CHANNEL and the real clock,
 * checkManifestPolicy: version 2, issued a day ago, expires in 30 days, an incremental from 1 and a full stream.
 */
export function makeManifest(overrides: Partial<Manifest> = {}): Manifest {
  return {
    schema: 1,
    version: 2,
    label: 'test image 2',
    hardware: [FIXTURE_HARDWARE],
    channel: FIXTURE_CHANNEL,
    issued: isoFromNow(-DAY_MS),
    expires: isoFromNow(30 * DAY_MS),
    image: { size: 64 * 1024 * 1024, sha256: hex('a') },
    streams: [
      { from: 1, urls: ['streams/1-2.zfs.xz'], size: 4096, sha256: hex('b'), compression: 'xz' },
      { from: null, urls: ['streams/full-2.zfs.xz'], size: 8192, sha256: hex('c'), compression: 'xz' },
    ],
    ...overrides,
  };
}

/** Signs the manifest's JSON bytes with every key; returns the envelope document as it would be served. */
export function signManifest(manifest: Manifest, secretKeys: readonly SecretKey[]): Buffer {
  return Buffer.from(JSON.stringify(signPayload(Buffer.from(JSON.stringify(manifest)), secretKeys)));
}

/** `n` fresh key pairs and the matching trusted-key list (what a device's config would hold). */
export function makeKeys(n: number): { keys: KeyPair[]; trusted: TrustedKey[] } {
  const keys = Array.from({ length: n }, () => generateKeyPair());
  return { keys, trusted: keys.map(({ keyid, publicKey }) => ({ keyid, publicKey })) };
}
