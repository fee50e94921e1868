// The small ZFS surface the agent needs, injected into steps so they can be tested and swapped (CLI today).
import type { Readable, Writable } from 'node:stream';
import type { ZfsCapabilities } from './zfs-capabilities.js';
import type { DatasetView } from './zfs-list.js';

export interface Snapshot {
  /** Full name, `pool/dataset@version`. */
  name: string;
  /** The part after '@' as an integer; snapshots with other names are not listed. */
  version: number;
  guid: string;
  createtxg: number;
}

/** A running `zfs send`: read `stdout`; `done` settles when the process ends (rejects on failure). */
export interface SendStream {
  stdout: Readable;
  done: Promise<void>;
  kill(): void;
}

/** Writes a receive's whole stream into `stdin` (the child's pipe); rejecting aborts the receive. */
export type RecvFeed = (stdin: Writable) => Promise<void>;

/** Best effort, applied only where capabilities() already answered that they exist; the caller checks afterwards. */
export interface RecvOptions {
  /** Leave the received file system unmounted (`-u`, where the implementation has it). */
  noMount?: boolean;
  /** Properties the receive sets itself (`-o`, where the implementation has it); the caller checks afterwards. */
  props?: Record<string, string>;
}

export interface Zfs {
  /** What this implementation supports; probed once per adapter, then the same answer. */
  capabilities(): Promise<ZfsCapabilities>;
  /**
   * One parseable listing (one command) of `dataset`'s parent to depth 2: the dataset, its siblings (`.full`, `.old`,
   * export clones) and their snapshots, with the properties in DatasetEntry. A parent that does not exist → empty view.
   */
  view(dataset: string): Promise<DatasetView>;
  /** Snapshots of exactly `dataset` (not of its children), oldest → newest; [] when the dataset does not exist. */
  snapshots(dataset: string): Promise<Snapshot[]>;
  exists(name: string): Promise<boolean>;
  /** Direct child filesystems/volumes of `parent` (a pool or a dataset), not `parent` itself. */
  children(parent: string): Promise<string[]>;
  /**
   * `zfs recv TARGET` reading from `stdin`: an fd, or a pipe-backed stream (e.g. another child's stdout) that is
   * handed to the child and closed in this process synchronously, so no byte of it passes through JS; or a feed
   * that writes the stream into the child's stdin pipe (its rejection wins over the receive's own failure).
   * Never -F, never -R. Busy → E_ZFS_BUSY (not retried: the stream is consumed); other failures → E_ZFS_RECV.
   */
  recv(target: string, stdin: number | Readable | RecvFeed, opts?: RecvOptions): Promise<void>;
  send(snapshot: string, fromSnapshot?: string): SendStream;
  rollback(snapshot: string): Promise<void>;
  destroy(name: string, opts?: { recursive?: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  setProps(name: string, props: Record<string, string>): Promise<void>;
  getProp(name: string, prop: string): Promise<string>;
  clone(snapshot: string, target: string, props?: Record<string, string>): Promise<void>;
  /** Where `name` is mounted, or null when it is not mounted. */
  mountpoint(name: string): Promise<string | null>;
  mount(name: string): Promise<void>;
  /** Unmounts; a dataset that is not mounted is fine. */
  unmount(name: string): Promise<void>;
}

export { ZfsCli, retryWhileBusy, type ZfsCliOptions } from './zfs-cli.js';
export { isBusyMessage } from './zfs-messages.js';
export { snapshotVersion } from './zfs-names.js';
export { parseCapabilities, type ZfsCapabilities } from './zfs-capabilities.js';
export { DatasetView, type DatasetEntry } from './zfs-list.js';
