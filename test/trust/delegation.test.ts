// On-demand diff trust chain: one accepted offer, and a test for every refusal of verifyDiffOffer.
import { describe, expect, it } from 'vitest';
import { verifyDiffOffer, parseDelegation, type DiffOfferContext } from '../../src/trust/delegation.js';
import { manifestPayloadSha256, signDelegation, signDiffStatement, type DelegationTerms } from '../../src/trust/delegation-sign.js';
import { verifyManifest } from '../../src/trust/manifest.js';
import { signPayload } from '../../src/trust/sign.js';
import { generateKeyPair, type KeyPair } from '../../src/trust/keys.js';
import type { Envelope, Manifest } from '../../src/trust/manifest-types.js';
import { FIXTURE_CHANNEL, FIXTURE_HARDWARE, isoFromNow, makeKeys, makeManifest } from '../support/manifest-fixture.js';
import { refusal } from '../support/refusal.js';

const DAY = 86_400_000;
const offline = makeKeys(2);
const online = generateKeyPair();
const manifest: Manifest = makeManifest({ version: 17, streams: [{ from: null, urls: ['../streams/full-17.zfs.xz'], size: 9000, sha256: 'c'.repeat(64), compression: 'xz' }] });
const manifestEnv: Envelope = signPayload(Buffer.from(JSON.stringify(manifest)), offline.keys);
const verified = verifyManifest(Buffer.from(JSON.stringify(manifestEnv)), {
  trusted: offline.trusted, threshold: 2, maxBytes: 1 << 20, now: new Date(), newestIssued: null, maxClockAheadSec: 86400,
  versionFloor: null, hardware: FIXTURE_HARDWARE, channel: FIXTURE_CHANNEL, allowDowngrade: false,
});
const terms: DelegationTerms = { delegate: online, bases: { min: 10, max: 16 }, notAfter: isoFromNow(7 * DAY), maxSize: 5000, compression: 'xz' };
const statement = { version: 17, from: 12, manifestSha256: verified.payloadSha256, size: 1234, sha256: 'd'.repeat(64), compression: 'xz' as const, issued: isoFromNow(0) };
const ctx: DiffOfferContext = { manifest: verified.manifest, payloadSha256: verified.payloadSha256, trusted: offline.trusted, threshold: 2, from: 12, now: new Date() };

function doc(o: { delegation?: unknown; statement?: unknown; urls?: unknown } = {}): Buffer {
  return Buffer.from(JSON.stringify({
    delegation: o.delegation ?? signDelegation(manifestEnv, 17, terms, offline.keys),
    statement: o.statement ?? signDiffStatement(statement, online),
    urls: o.urls ?? ['../../streams/12-17.zfs.xz'],
  }));
}
const refuse = (bytes: Buffer, c: Partial<DiffOfferContext> = {}): string => refusal(() => verifyDiffOffer(bytes, { ...ctx, ...c })).code;
const delegationWith = (t: Partial<DelegationTerms>, keys: KeyPair[] = offline.keys, env = manifestEnv, version = 17): Envelope =>
  signDelegation(env, version, { ...terms, ...t }, keys);

describe('verifyDiffOffer: the accepted chain', () => {
  it('yields a stream offer with the statement’s size and sha256 and the document’s urls', () => {
    expect(verifyDiffOffer(doc(), ctx)).toEqual({ from: 12, urls: ['../../streams/12-17.zfs.xz'], size: 1234, sha256: 'd'.repeat(64), compression: 'xz' });
    expect(manifestPayloadSha256(manifestEnv)).toBe(verified.payloadSha256);
  });
});

describe('verifyDiffOffer: every refusal', () => {
  it('document: too large, not JSON, unknown or missing keys, bad urls', () => {
    expect(refuse(Buffer.alloc(70 * 1024, 0x20))).toBe('E_DIFF_STATEMENT_PAYLOAD');
    expect(refuse(Buffer.from('{nope'))).toBe('E_DIFF_STATEMENT_PAYLOAD');
    expect(refuse(Buffer.from(JSON.stringify({ ...JSON.parse(doc().toString()), extra: 1 })))).toBe('E_DIFF_STATEMENT_PAYLOAD');
    const { statement: _s, ...noStatement } = JSON.parse(doc().toString()) as Record<string, unknown>;
    expect(refuse(Buffer.from(JSON.stringify(noStatement)))).toBe('E_DIFF_STATEMENT_PAYLOAD');
    expect(refuse(doc({ urls: [] }))).toBe('E_DIFF_STATEMENT_PAYLOAD');
    expect(refuse(doc({ urls: [''] }))).toBe('E_DIFF_STATEMENT_PAYLOAD');
  });

  it('delegation signature: below the threshold, by untrusted keys, by the online key itself, unsigned, tampered', () => {
    expect(refuse(doc({ delegation: delegationWith({}, [offline.keys[0]!]) }))).toBe('E_DELEGATION_SIGNATURE');
    expect(refuse(doc({ delegation: delegationWith({}, makeKeys(2).keys) }))).toBe('E_DELEGATION_SIGNATURE');
    expect(refuse(doc({ delegation: delegationWith({}, [online]) }))).toBe('E_DELEGATION_SIGNATURE');
    expect(refuse(doc({ delegation: { payload: delegationWith({}).payload, signatures: [] } }))).toBe('E_DELEGATION_SIGNATURE');
    const d = delegationWith({});
    const payload = JSON.parse(Buffer.from(d.payload, 'base64').toString()) as Record<string, unknown>;
    const tampered = { ...d, payload: Buffer.from(JSON.stringify({ ...payload, maxSize: 1e12 })).toString('base64') };
    expect(refuse(doc({ delegation: tampered }))).toBe('E_DELEGATION_SIGNATURE');
    expect(refuse(doc({ delegation: 'not an envelope' }))).toBe('E_DELEGATION_SIGNATURE');
  });

  it('delegation payload: malformed, unknown key, bad bases, bad key, bad time', () => {
    const signed = (p: unknown): Envelope => signPayload(Buffer.from(JSON.stringify(p)), offline.keys);
    const good = JSON.parse(Buffer.from(delegationWith({}).payload, 'base64').toString()) as Record<string, unknown>;
    for (const bad of [
      { ...good, extra: true }, { ...good, kind: 'diff-statement' }, { ...good, schema: 2 }, { ...good, bases: { min: 12, max: 11 } },
      { ...good, bases: { min: 1, max: 17 } }, { ...good, key: { keyid: '0'.repeat(16), publicKey: online.publicKey } },
      { ...good, notAfter: 'tomorrow' }, { ...good, maxSize: 0 }, { ...good, compression: 'gzip' }, { ...good, manifestSha256: 'AB' },
    ]) expect(refuse(doc({ delegation: signed(bad) })), JSON.stringify(bad)).toBe('E_DELEGATION_PAYLOAD');
    expect(() => parseDelegation(Buffer.from([0xff, 0xfe]))).toThrow(/UTF-8 JSON/);
  });

  it('delegation scope: another manifest, another version, a base outside it, lapsed, outliving the manifest, size above its bound', () => {
    const other = signPayload(Buffer.from(JSON.stringify({ ...manifest, label: 'other' })), offline.keys);
    expect(refuse(doc({ delegation: delegationWith({}, offline.keys, other) }))).toBe('E_DELEGATION_SCOPE');
    expect(refuse(doc({ delegation: delegationWith({}, offline.keys, manifestEnv, 18) }))).toBe('E_DELEGATION_SCOPE');
    expect(refuse(doc({ delegation: delegationWith({ bases: { min: 13, max: 16 } }) }))).toBe('E_DELEGATION_SCOPE');
    expect(refuse(doc({ delegation: delegationWith({ notAfter: isoFromNow(-3600_000) }) }))).toBe('E_DELEGATION_SCOPE');
    expect(refuse(doc(), { now: new Date(Date.now() + 8 * DAY) })).toBe('E_DELEGATION_SCOPE');
    expect(refuse(doc({ delegation: delegationWith({ notAfter: isoFromNow(60 * DAY) }) }))).toBe('E_DELEGATION_SCOPE');
    expect(refuse(doc({ delegation: delegationWith({ maxSize: 1233 }) }))).toBe('E_DELEGATION_SCOPE');
    expect(refuse(doc({ statement: signDiffStatement({ ...statement, issued: isoFromNow(8 * DAY) }, online) }))).toBe('E_DELEGATION_SCOPE');
  });

  it('statement signature: by an offline key, by another online key, unsigned, tampered', () => {
    expect(refuse(doc({ statement: signDiffStatement(statement, offline.keys[0]!) }))).toBe('E_DIFF_STATEMENT_SIGNATURE');
    expect(refuse(doc({ statement: signDiffStatement(statement, generateKeyPair()) }))).toBe('E_DIFF_STATEMENT_SIGNATURE');
    const s = signDiffStatement(statement, online);
    expect(refuse(doc({ statement: { payload: s.payload, signatures: [] } }))).toBe('E_DIFF_STATEMENT_SIGNATURE');
    const tampered = { ...s, payload: Buffer.from(JSON.stringify({ schema: 1, kind: 'diff-statement', ...statement, sha256: 'e'.repeat(64) })).toString('base64') };
    expect(refuse(doc({ statement: tampered }))).toBe('E_DIFF_STATEMENT_SIGNATURE');
  });

  it('statement payload: malformed or with unknown keys', () => {
    const signed = (p: unknown): Envelope => signPayload(Buffer.from(JSON.stringify(p)), [online]);
    const good = { schema: 1, kind: 'diff-statement', ...statement };
    for (const bad of [{ ...good, extra: 1 }, { ...good, size: -1 }, { ...good, sha256: 'x' }, { ...good, issued: 'now' }, { ...good, kind: 'diff-delegation' }, [good]]) {
      expect(refuse(doc({ statement: signed(bad) })), JSON.stringify(bad)).toBe('E_DIFF_STATEMENT_PAYLOAD');
    }
  });

  it('statement mismatch: another version or manifest, another base, another compression', () => {
    expect(refuse(doc({ statement: signDiffStatement({ ...statement, version: 18 }, online) }))).toBe('E_DIFF_STATEMENT_MISMATCH');
    expect(refuse(doc({ statement: signDiffStatement({ ...statement, manifestSha256: 'f'.repeat(64) }, online) }))).toBe('E_DIFF_STATEMENT_MISMATCH');
    expect(refuse(doc({ statement: signDiffStatement({ ...statement, from: 11 }, online) }))).toBe('E_DIFF_STATEMENT_MISMATCH');
    expect(refuse(doc(), { from: 11 })).toBe('E_DIFF_STATEMENT_MISMATCH');
    expect(refuse(doc({ statement: signDiffStatement({ ...statement, compression: 'none' }, online) }))).toBe('E_DIFF_STATEMENT_MISMATCH');
  });
});
