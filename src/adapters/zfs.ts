// The small ZFS surface the agent needs, injected into steps so they can be tested and swapped (CLI today).
import type { Readable } from 'node:stream';

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

export interface Zfs {
  /** Snapshots of exactly `dataset` (not of its children), oldest → newest; [] when the dataset does not exist. */
  snapshots(dataset: string): Promise<Snapshot[]>;
  exists(name: string): Promise<boolean>;
  /** Direct child filesystems/volumes of `parent` (a pool or a dataset), not `parent` itself. */
  children(parent: string): Promise<string[]>;
  /**
   * `zfs recv TARGET` reading from `stdin`: an fd, or a pipe-backed stream (e.g. another child's stdout) that is
   * handed to the child and closed in this process synchronously, so no byte of it passes through JS.
   * Never -F, never -R. Busy → E_ZFS_BUSY (not retried: the stream is consumed); other failures → E_ZFS_RECV.
   */
  recv(target: string, stdin: number | Readable): Promise<void>;
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

export { ZfsCli, isBusyMessage, retryWhileBusy, snapshotVersion, type ZfsCliOptions } from './zfs-cli.js';
