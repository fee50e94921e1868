// On-demand diffs: the offline-signed delegation naming an online key, and the diff statement it signs. Pure.
import { createHash } from 'node:crypto';
import { TrustError, type ErrorCode } from '../errors.js';
import { decodeUtf8Strict, verifyEnvelope } from './envelope.js';
import { decodePublicKey } from './keys.js';
import type { Compression, Envelope, Manifest, StreamOffer, TrustedKey } from './manifest-types.js';

/** Signed offline (the manifest's keys and threshold), at publish time: what the online key may vouch for. */
export interface Delegation {
  schema: 1;
  kind: 'diff-delegation';
  /** The manifest's version and the sha256 of its exact signed payload bytes: one delegation, one manifest. */
  version: number;
  manifestSha256: string;
  /** The online key. */
  key: TrustedKey;
  /** Base versions it may sign diffs from, inclusive. */
  bases: { min: number; max: number };
  /** No statement is accepted at or after this instant. */
  notAfter: string;
  /** No statement may promise a stream larger than this (bytes). */
  maxSize: number;
  compression: Compression;
}

/** Signed by the online key when a diff was built: what the device will hash the bytes against. */
export interface DiffStatement {
  schema: 1;
  kind: 'diff-statement';
  version: number;
  from: number;
  manifestSha256: string;
  size: number;
  sha256: string;
  compression: Compression;
  issued: string;
}

/** What the fleet server answers for `GET /v1/diffs/<version>/<from>` once the diff exists. */
export interface DiffOfferDocument {
  delegation: Envelope;
  statement: Envelope;
  /** Where the bytes are (relative to the document's URL); not signed: the bytes are checked against the statement. */
  urls: string[];
}

export const MAX_DIFF_OFFER_BYTES = 64 * 1024;

type Obj = Record<string, unknown>;
const HEX64 = /^[0-9a-f]{64}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function parseJson(bytes: Uint8Array, code: ErrorCode, what: string): unknown {
  const text = decodeUtf8Strict(bytes);
  try {
    if (text === null) throw new Error('not UTF-8');
    return JSON.parse(text);
  } catch (err) {
    throw new TrustError(code, `${what} is not valid UTF-8 JSON`, { cause: err });
  }
}

/** A strict reader: exactly `fields`, each checked by name, refusing with `code`. */
function reader(v: unknown, fields: readonly string[], code: ErrorCode, what: string) {
  const bad = (field: string, why: string): TrustError => new TrustError(code, `${what}: ${field} ${why}`, { context: { field } });
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('(document)', 'must be a JSON object');
  const o = v as Obj;
  for (const k of Object.keys(o)) if (!fields.includes(k)) throw bad(k, 'is an unknown key');
  for (const f of fields) if (!(f in o)) throw bad(f, 'is missing');
  return {
    o,
    int: (f: string): number => {
      const x = o[f];
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 1) throw bad(f, 'must be a positive integer');
      return x;
    },
    hex: (f: string): string => {
      const x = o[f];
      if (typeof x !== 'string' || !HEX64.test(x)) throw bad(f, 'must be 64 lowercase hex characters');
      return x;
    },
    instant: (f: string): string => {
      const x = o[f];
      if (typeof x !== 'string' || !ISO.test(x) || Number.isNaN(Date.parse(x))) throw bad(f, 'must be an ISO-8601 instant with a zone');
      return x;
    },
    literal: <T extends string | number>(f: string, ...allowed: T[]): T => {
      if (!allowed.includes(o[f] as T)) throw bad(f, `must be ${allowed.map((a) => JSON.stringify(a)).join(' or ')}`);
      return o[f] as T;
    },
    bad,
  };
}

export function parseDelegation(bytes: Uint8Array): Delegation {
  const r = reader(parseJson(bytes, 'E_DELEGATION_PAYLOAD', 'delegation'), ['schema', 'kind', 'version', 'manifestSha256', 'key', 'bases', 'notAfter', 'maxSize', 'compression'], 'E_DELEGATION_PAYLOAD', 'delegation');
  const key = reader(r.o.key, ['keyid', 'publicKey'], 'E_DELEGATION_PAYLOAD', 'delegation.key');
  const k: TrustedKey = { keyid: String(key.o.keyid), publicKey: String(key.o.publicKey) };
  try {
    decodePublicKey(k, 'delegation.key');
  } catch (err) {
    throw new TrustError('E_DELEGATION_PAYLOAD', `delegation.key is not a valid public key: ${(err as Error).message}`, { cause: err });
  }
  const b = reader(r.o.bases, ['min', 'max'], 'E_DELEGATION_PAYLOAD', 'delegation.bases');
  const version = r.int('version');
  const bases = { min: b.int('min'), max: b.int('max') };
  if (bases.min > bases.max || bases.max >= version) throw r.bad('bases', `must be min <= max < version ${version}`);
  return {
    schema: r.literal('schema', 1), kind: r.literal('kind', 'diff-delegation'), version, manifestSha256: r.hex('manifestSha256'),
    key: k, bases, notAfter: r.instant('notAfter'), maxSize: r.int('maxSize'), compression: r.literal('compression', 'xz', 'none'),
  };
}

export function parseDiffStatement(bytes: Uint8Array): DiffStatement {
  const r = reader(parseJson(bytes, 'E_DIFF_STATEMENT_PAYLOAD', 'diff statement'), ['schema', 'kind', 'version', 'from', 'manifestSha256', 'size', 'sha256', 'compression', 'issued'], 'E_DIFF_STATEMENT_PAYLOAD', 'diff statement');
  return {
    schema: r.literal('schema', 1), kind: r.literal('kind', 'diff-statement'), version: r.int('version'), from: r.int('from'),
    manifestSha256: r.hex('manifestSha256'), size: r.int('size'), sha256: r.hex('sha256'),
    compression: r.literal('compression', 'xz', 'none'), issued: r.instant('issued'),
  };
}

/** Re-throws an envelope refusal under `code`, keeping the envelope's own code as cause. */
function envelopeOr(code: ErrorCode, what: string, verify: () => Buffer): Buffer {
  try {
    return verify();
  } catch (err) {
    if (!(err instanceof TrustError)) throw err;
    throw new TrustError(code, `${what}: ${err.message}`, { cause: err, context: { envelopeCode: err.code } });
  }
}

export interface DiffOfferContext {
  /** The verified manifest, and the sha256 of its signed payload bytes (VerifiedManifest.payloadSha256). */
  manifest: Manifest;
  payloadSha256: string;
  /** The device's trust config: the same keys and threshold as for manifests. */
  trusted: readonly TrustedKey[];
  threshold: number;
  /** The device's base snapshot the diff must apply to. */
  from: number;
  /** The instant expiry was judged with for the manifest (VerifiedManifest.effectiveNow). */
  now: Date;
}

/**
 * The stream offer an on-demand diff document stands for, only when the whole chain holds: the delegation is
 * signed by the manifest's trusted keys and covers this manifest, base, size and time; the statement is signed
 * by the delegated key and names this version, base, manifest and compression. The offer's size and sha256
 * then bind the bytes exactly as a manifest's own offers do.
 */
export function verifyDiffOffer(documentBytes: Uint8Array, ctx: DiffOfferContext): StreamOffer {
  if (documentBytes.length > MAX_DIFF_OFFER_BYTES) {
    throw new TrustError('E_DIFF_STATEMENT_PAYLOAD', `diff offer document is ${documentBytes.length} bytes; the cap is ${MAX_DIFF_OFFER_BYTES}`);
  }
  const doc = reader(parseJson(documentBytes, 'E_DIFF_STATEMENT_PAYLOAD', 'diff offer'), ['delegation', 'statement', 'urls'], 'E_DIFF_STATEMENT_PAYLOAD', 'diff offer');
  const urls = doc.o.urls;
  if (!Array.isArray(urls) || urls.length === 0 || urls.some((u) => typeof u !== 'string' || u === '')) throw doc.bad('urls', 'must be a non-empty list of URLs');
  const envelopeBytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v ?? null));

  const dPayload = envelopeOr('E_DELEGATION_SIGNATURE', 'delegation', () => verifyEnvelope(envelopeBytes(doc.o.delegation), ctx.trusted, ctx.threshold));
  const d = parseDelegation(dPayload);
  const scope = (why: string, context: Record<string, unknown>): TrustError => new TrustError('E_DELEGATION_SCOPE', `delegation ${why}`, { context });
  if (d.version !== ctx.manifest.version || d.manifestSha256 !== ctx.payloadSha256) {
    throw scope(`is for manifest ${d.version} (${d.manifestSha256.slice(0, 12)}), not this one`, { version: d.version, manifest: ctx.manifest.version });
  }
  if (ctx.from < d.bases.min || ctx.from > d.bases.max) throw scope(`covers bases ${d.bases.min}..${d.bases.max}, not ${ctx.from}`, { from: ctx.from, bases: d.bases });
  if (Date.parse(d.notAfter) <= ctx.now.getTime()) throw scope(`lapsed at ${d.notAfter}`, { notAfter: d.notAfter, now: ctx.now.toISOString() });
  if (Date.parse(d.notAfter) > Date.parse(ctx.manifest.expires)) throw scope(`outlives its manifest (${d.notAfter} > ${ctx.manifest.expires})`, { notAfter: d.notAfter });

  const sPayload = envelopeOr('E_DIFF_STATEMENT_SIGNATURE', 'diff statement', () => verifyEnvelope(envelopeBytes(doc.o.statement), [d.key], 1));
  const s = parseDiffStatement(sPayload);
  const mismatch = (why: string): TrustError => new TrustError('E_DIFF_STATEMENT_MISMATCH', `diff statement ${why}`, { context: { statement: s } });
  if (s.version !== d.version || s.manifestSha256 !== d.manifestSha256) throw mismatch(`is for manifest ${s.version}, not ${d.version}`);
  if (s.from !== ctx.from) throw mismatch(`is a diff from ${s.from}, not from ${ctx.from}`);
  if (s.compression !== d.compression) throw mismatch(`says ${s.compression}; the delegation allows ${d.compression}`);
  if (s.size > d.maxSize) throw scope(`allows at most ${d.maxSize} bytes; the statement says ${s.size}`, { size: s.size, maxSize: d.maxSize });
  if (Date.parse(s.issued) >= Date.parse(d.notAfter)) throw scope(`lapsed at ${d.notAfter} before the statement was issued`, { issued: s.issued });
  return { from: s.from, urls: urls as string[], size: s.size, sha256: s.sha256, compression: s.compression };
}

/** sha256 of payload bytes, the way manifests and delegations are bound to each other. */
export const payloadDigest = (payload: Uint8Array): string => createHash('sha256').update(payload).digest('hex');
