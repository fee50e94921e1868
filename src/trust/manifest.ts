// Signed manifest: strict payload schema, device policy (expiry with clock floor, rollback, hardware, channel).
import { createHash } from 'node:crypto';
import { ConfigError, TrustError, UpgradeError } from '../errors.js';
import { clockFloorInUse } from './clock-floor.js';
import { decodeUtf8Strict, verifyEnvelope } from './envelope.js';
import type { ChunkList, Compression, Manifest, StreamOffer, TrustedKey } from './manifest-types.js';

type Obj = Record<string, unknown>;

function bad(path: string, message: string): TrustError {
  return new TrustError('E_MANIFEST_PAYLOAD', `manifest payload: ${path === '' ? '' : `${path} `}${message}`, {
    context: { path },
  });
}

/**
 * An object with exactly `fields` (and any of `optional`): an unknown key is refused by name, so a typo never
 * silently drops a rule.
 */
function exactObject(v: unknown, path: string, fields: readonly string[], optional: readonly string[] = []): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(path, 'must be a JSON object');
  const o = v as Obj;
  for (const k of Object.keys(o)) {
    if (!fields.includes(k) && !optional.includes(k)) throw bad(path === '' ? k : `${path}.${k}`, `is an unknown key "${k}"`);
  }
  for (const f of fields) if (!(f in o)) throw bad(path === '' ? f : `${path}.${f}`, 'is missing');
  return o;
}

function nonEmptyString(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0) throw bad(path, 'must be a non-empty string');
  return v;
}

function positiveInt(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw bad(path, 'must be a positive integer');
  return v;
}

function sha256Hex(v: unknown, path: string): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) throw bad(path, 'must be 64 lowercase hex characters');
  return v;
}

function stringArray(v: unknown, path: string): string[] {
  if (!Array.isArray(v) || v.length === 0) throw bad(path, 'must be a non-empty array');
  return v.map((s: unknown, i) => nonEmptyString(s, `${path}[${i}]`));
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** ISO-8601 instant with an explicit zone (a local time would depend on the device's TZ); returns epoch ms. */
function isoInstant(v: unknown, path: string): number {
  const m = typeof v === 'string' ? ISO_RE.exec(v) : null;
  const ms = m ? Date.parse(v as string) : NaN;
  if (!m || Number.isNaN(ms)) throw bad(path, 'must be an ISO-8601 instant with a time zone, e.g. 2030-01-01T00:00:00Z');
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  // Date.parse rolls 2024-02-30 over to March: refuse dates that do not exist instead.
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw bad(path, 'is not a real calendar date and time');
  }
  return ms;
}

const STREAM_FIELDS = ['from', 'urls', 'size', 'sha256', 'compression'] as const;
const MANIFEST_FIELDS = ['schema', 'version', 'label', 'hardware', 'channel', 'issued', 'expires', 'image', 'streams'] as const;

export const MIN_CHUNK = 64 << 10;
export const MAX_CHUNK = 16 << 20;

function parseChunks(v: unknown, path: string, streamSize: number): ChunkList {
  const o = exactObject(v, path, ['size', 'sha256']);
  const size = positiveInt(o.size, `${path}.size`);
  // Bounded: the device holds three chunks in memory while it feeds the stream.
  if (size < MIN_CHUNK || size > MAX_CHUNK || (size & (size - 1)) !== 0) {
    throw bad(`${path}.size`, `must be a power of two from ${MIN_CHUNK} to ${MAX_CHUNK}`);
  }
  const count = Math.ceil(streamSize / size);
  if (!Array.isArray(o.sha256) || o.sha256.length !== count) {
    throw bad(`${path}.sha256`, `must be an array of ${count} hashes (stream size ${streamSize} / chunk size ${size})`);
  }
  return { size, sha256: o.sha256.map((h: unknown, i) => sha256Hex(h, `${path}.sha256[${i}]`)) };
}

function parseStream(v: unknown, path: string, version: number): StreamOffer {
  const o = exactObject(v, path, STREAM_FIELDS, ['chunks']);
  let from: number | null = null;
  if (o.from !== null) {
    from = positiveInt(o.from, `${path}.from`);
    if (from >= version) throw bad(`${path}.from`, `must be lower than version ${version}`);
  }
  if (o.compression !== 'xz' && o.compression !== 'none') throw bad(`${path}.compression`, 'must be "xz" or "none"');
  const compression: Compression = o.compression;
  const size = positiveInt(o.size, `${path}.size`);
  return {
    from,
    urls: stringArray(o.urls, `${path}.urls`),
    size,
    sha256: sha256Hex(o.sha256, `${path}.sha256`),
    compression,
    ...(o.chunks === undefined ? {} : { chunks: parseChunks(o.chunks, `${path}.chunks`, size) }),
  };
}

/** Parses and validates the (already verified) payload bytes into a fresh Manifest object. */
export function parseManifestPayload(bytes: Uint8Array): Manifest {
  const text = decodeUtf8Strict(bytes);
  if (text === null) throw bad('', 'is not valid UTF-8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('', 'is not valid JSON');
  }
  const o = exactObject(doc, '', MANIFEST_FIELDS);
  if (o.schema !== 1) throw bad('schema', 'must be 1');
  const version = positiveInt(o.version, 'version');
  if (typeof o.label !== 'string') throw bad('label', 'must be a string');
  const issuedMs = isoInstant(o.issued, 'issued');
  const expiresMs = isoInstant(o.expires, 'expires');
  if (expiresMs <= issuedMs) throw bad('expires', 'must be later than issued');
  const img = exactObject(o.image, 'image', ['size', 'sha256']);
  if (!Array.isArray(o.streams) || o.streams.length === 0) throw bad('streams', 'must be a non-empty array');
  const streams = o.streams.map((s: unknown, i) => parseStream(s, `streams[${i}]`, version));
  // Two offers for one base would leave the choice (and what gets verified) ambiguous.
  const seen = new Set<number | null>();
  streams.forEach((s, i) => {
    if (seen.has(s.from)) throw bad(`streams[${i}].from`, `duplicates another stream from ${String(s.from)}`);
    seen.add(s.from);
  });
  return {
    schema: 1,
    version,
    label: o.label,
    hardware: stringArray(o.hardware, 'hardware'),
    channel: nonEmptyString(o.channel, 'channel'),
    issued: o.issued as string,
    expires: o.expires as string,
    image: { size: positiveInt(img.size, 'image.size'), sha256: sha256Hex(img.sha256, 'image.sha256') },
    streams,
  };
}

export interface PolicyContext {
  now: Date;
  /**
   * Newest `issued` of any manifest accepted before (persisted): the device clock is never trusted below it,
   * but the floor never puts "now" more than `maxClockAheadSec` past the device clock (see clock-floor.ts).
   */
  newestIssued: string | null;
  maxClockAheadSec: number;
  /** Highest version accepted before (persisted); null on a fresh device. */
  versionFloor: number | null;
  hardware: string;
  channel: string;
  /** Operator override for the rollback floor only; expiry, hardware and channel still apply. */
  allowDowngrade: boolean;
}

/** Device-side policy over a verified manifest; returns the clock it judged expiry with. */
export function checkManifestPolicy(m: Manifest, ctx: PolicyContext): { effectiveNow: Date } {
  const nowMs = ctx.now.getTime();
  if (Number.isNaN(nowMs)) throw new UpgradeError('E_INTERNAL', 'policy check given an invalid current time');
  const { floorMs, capped } = clockFloorInUse(ctx.newestIssued, nowMs, ctx.maxClockAheadSec);
  const effectiveNow = new Date(Math.max(nowMs, floorMs));
  if (Date.parse(m.expires) <= effectiveNow.getTime()) {
    throw new TrustError('E_MANIFEST_EXPIRED', `manifest ${m.version} expired at ${m.expires}`, {
      context: {
        version: m.version,
        expires: m.expires,
        effectiveNow: effectiveNow.toISOString(),
        clockFloorUsed: floorMs > nowMs,
        clockFloorCapped: capped,
      },
    });
  }
  if (ctx.versionFloor !== null && m.version < ctx.versionFloor && !ctx.allowDowngrade) {
    throw new TrustError('E_MANIFEST_ROLLBACK', `manifest version ${m.version} is below the accepted floor ${ctx.versionFloor}`, {
      context: { version: m.version, floor: ctx.versionFloor },
    });
  }
  if (!m.hardware.includes(ctx.hardware)) {
    throw new TrustError('E_MANIFEST_HARDWARE', `manifest ${m.version} is for ${m.hardware.join(', ')}, not ${ctx.hardware}`, {
      context: { version: m.version, hardware: m.hardware, device: ctx.hardware },
    });
  }
  if (m.channel !== ctx.channel) {
    throw new TrustError('E_MANIFEST_CHANNEL', `manifest ${m.version} is for channel ${m.channel}, not ${ctx.channel}`, {
      context: { version: m.version, channel: m.channel, device: ctx.channel },
    });
  }
  return { effectiveNow };
}

export interface VerifyManifestOptions extends PolicyContext {
  trusted: readonly TrustedKey[];
  threshold: number;
  maxBytes: number;
}

export interface VerifiedManifest {
  manifest: Manifest;
  /** Hex sha256 of the signed payload bytes: identifies exactly what was accepted. */
  payloadSha256: string;
  effectiveNow: Date;
}

/** Size cap, signatures, schema, policy: in that order, so nothing unverified is ever parsed. */
export function verifyManifest(documentBytes: Uint8Array, opts: VerifyManifestOptions): VerifiedManifest {
  if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes < 1) {
    throw new ConfigError('E_CONFIG_INVALID', `manifest size cap must be a positive integer (got ${String(opts.maxBytes)})`);
  }
  if (documentBytes.length > opts.maxBytes) {
    throw new TrustError('E_MANIFEST_TOO_LARGE', `manifest document is ${documentBytes.length} bytes; the cap is ${opts.maxBytes}`, {
      context: { size: documentBytes.length, maxBytes: opts.maxBytes },
    });
  }
  const payload = verifyEnvelope(documentBytes, opts.trusted, opts.threshold);
  const manifest = parseManifestPayload(payload);
  const { effectiveNow } = checkManifestPolicy(manifest, opts);
  return { manifest, payloadSha256: createHash('sha256').update(payload).digest('hex'), effectiveNow };
}
