// Manifest payload schema and device policy, alone and composed by verifyManifest; every refusal by code.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkManifestPolicy,
  parseManifestPayload,
  verifyManifest,
  type PolicyContext,
  type VerifyManifestOptions,
} from '../../src/trust/manifest.js';
import type { Manifest } from '../../src/trust/manifest-types.js';
import { signPayload } from '../../src/trust/sign.js';
import { FIXTURE_CHANNEL, FIXTURE_HARDWARE, makeKeys, makeManifest, signManifest } from '../support/manifest-fixture.js';
import { refusal } from '../support/refusal.js';

const NOW = new Date('2030-06-01T00:00:00Z');
const DAY_SEC = 24 * 3600;
const at = (m: Partial<Manifest> = {}): Manifest =>
  makeManifest({ issued: '2030-05-01T00:00:00Z', expires: '2030-07-01T00:00:00Z', version: 5, ...m });

const { keys, trusted } = makeKeys(2);
const opts = (o: Partial<VerifyManifestOptions> = {}): VerifyManifestOptions => ({
  trusted,
  threshold: 1,
  maxBytes: 1 << 20,
  now: NOW,
  newestIssued: null,
  maxClockAheadSec: DAY_SEC,
  versionFloor: 4,
  hardware: FIXTURE_HARDWARE,
  channel: FIXTURE_CHANNEL,
  allowDowngrade: false,
  ...o,
});
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

describe('verifyManifest', () => {
  it('accepts a valid manifest and reports the payload sha256', () => {
    const m = at();
    const document = signManifest(m, keys);
    const out = verifyManifest(document, opts({ threshold: 2 }));
    expect(out.manifest).toEqual(m);
    const payload = Buffer.from((JSON.parse(document.toString()) as { payload: string }).payload, 'base64');
    expect(out.payloadSha256).toBe(createHash('sha256').update(payload).digest('hex'));
    expect(out.effectiveNow.toISOString()).toBe(NOW.toISOString());
  });

  it('accepts the fixture defaults against the real clock', () => {
    expect(verifyManifest(signManifest(makeManifest(), [keys[0]!]), opts({ now: new Date(), versionFloor: null })).manifest.version).toBe(2);
  });

  it('refuses an oversize document before reading it (E_MANIFEST_TOO_LARGE)', () => {
    const document = signManifest(at(), keys);
    expect(refusal(() => verifyManifest(document, opts({ maxBytes: document.length - 1 }))).code).toBe('E_MANIFEST_TOO_LARGE');
    expect(refusal(() => verifyManifest(Buffer.alloc(2048, 0x7b), opts({ maxBytes: 1024 }))).code).toBe('E_MANIFEST_TOO_LARGE');
    expect(verifyManifest(document, opts({ maxBytes: document.length })).manifest.version).toBe(5);
  });

  it('checks signatures before the payload: an untrusted expired manifest is a signature error', () => {
    const document = signManifest(at({ expires: '2030-05-02T00:00:00Z' }), makeKeys(1).keys);
    expect(refusal(() => verifyManifest(document, opts())).code).toBe('E_MANIFEST_SIGNATURE');
  });

  it('refuses an expired manifest (E_MANIFEST_EXPIRED)', () => {
    const document = signManifest(at({ expires: '2030-05-31T23:59:59Z' }), keys);
    expect(refusal(() => verifyManifest(document, opts())).code).toBe('E_MANIFEST_EXPIRED');
  });

  it('refuses by clock floor when the device clock is behind a newer issued already seen (E_MANIFEST_EXPIRED)', () => {
    const document = signManifest(at(), keys); // expires 2030-07-01T00:00Z
    const behind = opts({ now: new Date('2030-06-30T12:00:00Z') });
    expect(verifyManifest(document, behind).manifest.version).toBe(5); // the device clock alone would accept it
    const err = refusal(() => verifyManifest(document, { ...behind, newestIssued: '2030-07-01T06:00:00Z' })); // 18 h ahead
    expect(err.code).toBe('E_MANIFEST_EXPIRED');
    expect(err.context.effectiveNow).toBe('2030-07-01T06:00:00.000Z');
    expect(err.context.clockFloorCapped).toBe(false);
  });

  it('lets the floor lead the device clock by at most trust.maxClockAheadSec', () => {
    const document = signManifest(at(), keys);
    const behind = opts({ now: new Date('2030-01-01T00:00:00Z'), newestIssued: '2030-08-01T00:00:00Z' }); // 7 months ahead
    expect(verifyManifest(document, behind).effectiveNow.toISOString()).toBe('2030-01-02T00:00:00.000Z');
    const err = refusal(() => verifyManifest(document, { ...behind, maxClockAheadSec: 366 * DAY_SEC }));
    expect(err.code).toBe('E_MANIFEST_EXPIRED');
    expect(err.context.effectiveNow).toBe('2030-08-01T00:00:00.000Z');
  });

  it('refuses an older version (E_MANIFEST_ROLLBACK) unless downgrade is allowed', () => {
    const document = signManifest(at({ version: 3, streams: [{ from: null, urls: ['u'], size: 1, sha256: 'd'.repeat(64), compression: 'none' }] }), keys);
    expect(refusal(() => verifyManifest(document, opts({ versionFloor: 4 }))).code).toBe('E_MANIFEST_ROLLBACK');
    expect(verifyManifest(document, opts({ versionFloor: 4, allowDowngrade: true })).manifest.version).toBe(3);
    expect(verifyManifest(document, opts({ versionFloor: 3 })).manifest.version).toBe(3); // equal is not a rollback
  });

  it('refuses another hardware model (E_MANIFEST_HARDWARE)', () => {
    expect(refusal(() => verifyManifest(signManifest(at(), keys), opts({ hardware: 'other-board' }))).code).toBe('E_MANIFEST_HARDWARE');
    expect(verifyManifest(signManifest(at({ hardware: ['x', 'other-board'] }), keys), opts({ hardware: 'other-board' })).manifest.version).toBe(5);
  });

  it('refuses another channel (E_MANIFEST_CHANNEL)', () => {
    expect(refusal(() => verifyManifest(signManifest(at(), keys), opts({ channel: 'beta' }))).code).toBe('E_MANIFEST_CHANNEL');
  });

  it('refuses a signed payload with an unknown key, naming it (E_MANIFEST_PAYLOAD)', () => {
    const document = json(signPayload(json({ ...at(), autoReboot: true }), keys));
    const err = refusal(() => verifyManifest(document, opts()));
    expect(err.code).toBe('E_MANIFEST_PAYLOAD');
    expect(err.message).toContain('autoReboot');
  });
});

describe('parseManifestPayload', () => {
  const code = (v: unknown): string =>
    refusal(() => parseManifestPayload(Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v) : json(v))).code;
  const stream = at().streams[0]!;

  it('round-trips a valid manifest', () => {
    expect(parseManifestPayload(json(at()))).toEqual(at());
  });

  it('refuses garbage and wrong top-level shapes', () => {
    for (const v of ['{oops', '[]', '"x"', 'null', Buffer.from([0x7b, 0xc3, 0x28, 0x7d])]) expect(code(v)).toBe('E_MANIFEST_PAYLOAD');
  });

  it('takes an optional chunk list: parsed when valid, refused by name when its size, count or hashes are wrong', () => {
    const h = 'ab'.repeat(32);
    const withChunks = (chunks: unknown, size = stream.size): Manifest => ({ ...at(), streams: [{ ...stream, size, chunks } as typeof stream] });
    const ok = withChunks({ size: 1 << 20, sha256: [h, h, h] }, (2 << 20) + 1);
    expect(parseManifestPayload(json(ok)).streams[0]?.chunks).toEqual({ size: 1 << 20, sha256: [h, h, h] });
    expect(parseManifestPayload(json(at())).streams[0]).not.toHaveProperty('chunks'); // older manifests: none
    const path = (m: Manifest): unknown => refusal(() => parseManifestPayload(json(m))).context.path;
    expect(path(withChunks({ size: 1 << 20, sha256: [h, h] }, (2 << 20) + 1))).toBe('streams[0].chunks.sha256');
    expect(path(withChunks({ size: 1000, sha256: [h] }, 1000))).toBe('streams[0].chunks.size');
    expect(path(withChunks({ size: 32 << 20, sha256: [h] }, 1000))).toBe('streams[0].chunks.size');
    expect(path(withChunks({ size: 1 << 20, sha256: ['AB'.repeat(32)] }, 1000))).toBe('streams[0].chunks.sha256[0]');
    expect(path(withChunks({ size: 1 << 20, sha256: [h], extra: 1 }, 1000))).toBe('streams[0].chunks.extra');
  });

  it('names unknown keys at any depth', () => {
    const err = refusal(() => parseManifestPayload(json({ ...at(), streams: [{ ...stream, mirror: 'x' }] })));
    expect(err.code).toBe('E_MANIFEST_PAYLOAD');
    expect(err.message).toContain('mirror');
    expect(err.context.path).toBe('streams[0].mirror');
  });

  it.each<[string, Record<string, unknown>]>([
    ['missing field', { version: undefined }],
    ['schema 2', { schema: 2 }],
    ['version 0', { version: 0 }],
    ['fractional version', { version: 1.5 }],
    ['version as string', { version: '5' }],
    ['unsafe version', { version: 2 ** 53 }],
    ['empty hardware', { hardware: [] }],
    ['non-string hardware', { hardware: [1] }],
    ['empty channel', { channel: '' }],
    ['non-ISO issued', { issued: 'June 1 2030' }],
    ['zone-less issued', { issued: '2030-05-01T00:00:00' }],
    ['impossible date', { issued: '2030-02-30T00:00:00Z' }],
    ['expires == issued', { expires: '2030-05-01T00:00:00Z' }],
    ['expires before issued', { expires: '2030-04-01T00:00:00Z' }],
    ['image size 0', { image: { size: 0, sha256: 'a'.repeat(64) } }],
    ['uppercase image sha256', { image: { size: 1, sha256: 'A'.repeat(64) } }],
    ['short image sha256', { image: { size: 1, sha256: 'a'.repeat(63) } }],
    ['no streams', { streams: [] }],
  ])('refuses %s', (_name, patch) => {
    expect(code(JSON.parse(JSON.stringify({ ...at(), ...patch })))).toBe('E_MANIFEST_PAYLOAD');
  });

  it.each<[string, Record<string, unknown>]>([
    ['from == version', { from: 5 }],
    ['from above version', { from: 9 }],
    ['from 0', { from: 0 }],
    ['from as string', { from: '1' }],
    ['no urls', { urls: [] }],
    ['empty url', { urls: [''] }],
    ['size 0', { size: 0 }],
    ['negative size', { size: -1 }],
    ['bad sha256', { sha256: 'z'.repeat(64) }],
    ['gzip compression', { compression: 'gzip' }],
  ])('refuses a stream with %s', (_name, patch) => {
    expect(code({ ...at(), streams: [{ ...stream, ...patch }] })).toBe('E_MANIFEST_PAYLOAD');
  });

  it('refuses two streams from the same base', () => {
    expect(code({ ...at(), streams: [stream, { ...stream, urls: ['other'] }] })).toBe('E_MANIFEST_PAYLOAD');
    const full = { ...stream, from: null };
    expect(code({ ...at(), streams: [full, full] })).toBe('E_MANIFEST_PAYLOAD');
  });
});

describe('checkManifestPolicy', () => {
  const ctx = {
    now: NOW,
    newestIssued: null,
    maxClockAheadSec: DAY_SEC,
    versionFloor: null,
    hardware: FIXTURE_HARDWARE,
    channel: FIXTURE_CHANNEL,
    allowDowngrade: false,
  };
  const effectiveNow = (c: Partial<PolicyContext>, m = at()): string =>
    checkManifestPolicy(m, { ...ctx, ...c }).effectiveNow.toISOString();

  it('uses the newest issued as a clock floor only when it is ahead of the device clock', () => {
    expect(effectiveNow({ newestIssued: '2030-06-01T12:00:00Z' })).toBe('2030-06-01T12:00:00.000Z');
    expect(effectiveNow({ newestIssued: '2020-01-01T00:00:00Z' })).toBe(NOW.toISOString());
  });

  it('caps a far-future floor at now + maxClockAheadSec: a poisoned floor does not expire a current manifest', () => {
    expect(effectiveNow({ newestIssued: '2099-01-01T00:00:00Z' })).toBe('2030-06-02T00:00:00.000Z');
    expect(effectiveNow({ newestIssued: '2030-06-02T00:00:00Z' })).toBe('2030-06-02T00:00:00.000Z'); // at the bound: kept
    expect(effectiveNow({ newestIssued: '2099-01-01T00:00:00Z', maxClockAheadSec: 0 })).toBe(NOW.toISOString());
  });

  it('still refuses, under a poisoned floor, a manifest that expired before now (E_MANIFEST_EXPIRED)', () => {
    const err = refusal(() => checkManifestPolicy(at({ expires: '2030-05-31T23:00:00Z' }), { ...ctx, newestIssued: '2099-01-01T00:00:00Z' }));
    expect(err.code).toBe('E_MANIFEST_EXPIRED');
    expect(err.context).toMatchObject({ effectiveNow: '2030-06-02T00:00:00.000Z', clockFloorUsed: true, clockFloorCapped: true });
  });

  it('protects a device with a dead RTC (1970) only up to device-now + bound; the version floor still holds', () => {
    const dead = { ...ctx, now: new Date('1970-01-01T00:00:00Z'), newestIssued: '2030-05-01T00:00:00Z' };
    const stale = at({ issued: '2029-01-01T00:00:00Z', expires: '2029-02-01T00:00:00Z' }); // long expired in real time
    expect(checkManifestPolicy(stale, dead).effectiveNow.toISOString()).toBe('1970-01-02T00:00:00.000Z'); // the trade-off
    expect(refusal(() => checkManifestPolicy(stale, { ...dead, versionFloor: 6 })).code).toBe('E_MANIFEST_ROLLBACK');
  });

  it('refuses a clock-ahead bound outside 0..366 days (E_CONFIG_INVALID)', () => {
    for (const maxClockAheadSec of [-1, 1.5, 366 * DAY_SEC + 1, NaN]) {
      expect(refusal(() => checkManifestPolicy(at(), { ...ctx, maxClockAheadSec })).code).toBe('E_CONFIG_INVALID');
    }
  });

  it('treats expires == effective now as expired', () => {
    expect(refusal(() => checkManifestPolicy(at(), { ...ctx, now: new Date('2030-07-01T00:00:00Z') })).code).toBe('E_MANIFEST_EXPIRED');
  });

  it('does not let allowDowngrade bypass expiry, hardware or channel', () => {
    const down = { ...ctx, versionFloor: 9, allowDowngrade: true };
    expect(refusal(() => checkManifestPolicy(at(), { ...down, now: new Date('2031-01-01T00:00:00Z') })).code).toBe('E_MANIFEST_EXPIRED');
    expect(refusal(() => checkManifestPolicy(at(), { ...down, hardware: 'x' })).code).toBe('E_MANIFEST_HARDWARE');
    expect(refusal(() => checkManifestPolicy(at(), { ...down, channel: 'x' })).code).toBe('E_MANIFEST_CHANNEL');
  });

  it('refuses a garbled clock floor instead of ignoring it', () => {
    expect(refusal(() => checkManifestPolicy(at(), { ...ctx, newestIssued: 'yesterday' })).code).toBe('E_INTERNAL');
  });
});
