// The signed manifest payload (contract, see docs/protocol.md): what a fleet promises about one target version.

export type Compression = 'xz' | 'none';

/**
 * Signed per-chunk hashes of a stream file (optional): chunk i is bytes [i·size, (i+1)·size) of the (compressed)
 * file, the last one shorter; the device checks each before any byte of it reaches xz or zfs recv.
 */
export interface ChunkList {
  /** Chunk length in bytes: a power of two from 64 KiB to 16 MiB. */
  size: number;
  /** Lowercase hex sha256 of every chunk, in order: exactly ceil(stream size / chunk size) of them. */
  sha256: string[];
}

/** One way to get from a base (or from nothing) to the target's ZFS snapshot. */
export interface StreamOffer {
  /** Base version the incremental stream applies to; null for a full stream. */
  from: number | null;
  /** Mirrors, tried in order; relative URLs resolve against the manifest's URL. */
  urls: string[];
  /** Exact byte length of the (compressed) file. */
  size: number;
  /** Lowercase hex sha256 of the (compressed) file. */
  sha256: string;
  compression: Compression;
  /** Absent in manifests published before chunk hashes (the whole-file sha256 is then checked before import). */
  chunks?: ChunkList;
}

export interface Manifest {
  schema: 1;
  /** Monotonic integer; also the ZFS snapshot name on the device (<pool>/<dataset>@<version>). */
  version: number;
  label: string;
  /** Hardware models this image applies to. */
  hardware: string[];
  channel: string;
  /** ISO-8601 instants. */
  issued: string;
  expires: string;
  /** The exported image file (/images/<version>.img). */
  image: { size: number; sha256: string };
  streams: StreamOffer[];
}

/** A signed envelope: signatures cover the raw payload bytes (base64-decoded), nothing else. */
export interface Envelope {
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

export interface TrustedKey {
  keyid: string;
  /** base64 of the 32-byte ed25519 public key. */
  publicKey: string;
}
