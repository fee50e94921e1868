// Zfs over the `zfs` command line (works with OpenZFS and zfs-fuse): busy retries here, errors as ZfsError.
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { ZfsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SendStream, Snapshot, Zfs } from './zfs.js';

const ENV = { LC_ALL: 'C', LANG: 'C' };

/** zfs-fuse reports these for a while after files were read (FUSE releases asynchronously) or during a recv. */
export function isBusyMessage(stderr: string): boolean {
  return /\b(dataset|pool) is busy\b|device busy|resource busy/i.test(stderr);
}

export function isMissingMessage(stderr: string): boolean {
  return /dataset does not exist|could not find any snapshots|no such (pool|dataset)/i.test(stderr);
}

/** Snapshot version from `pool/ds@123`; null for names that are not plain non-negative integers. */
export function snapshotVersion(name: string): number | null {
  const at = name.lastIndexOf('@');
  if (at < 0) return null;
  const tail = name.slice(at + 1);
  if (!/^\d{1,15}$/.test(tail)) return null;
  const n = Number(tail);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * Runs `attempt` until it does not fail with E_ZFS_BUSY, with exponential backoff, for at most `timeoutSec`.
 * Used for operations that are safe to repeat (everything but a recv whose stream is already consumed).
 */
export async function retryWhileBusy<T>(timeoutSec: number, what: string, attempt: () => Promise<T>, log?: Logger): Promise<T> {
  const deadline = Date.now() + timeoutSec * 1000;
  let delay = 100;
  let tries = 0;
  for (;;) {
    tries++;
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof ZfsError) || err.code !== 'E_ZFS_BUSY') throw err;
      if (Date.now() + delay > deadline) {
        throw new ZfsError('E_ZFS_BUSY', `${what}: still busy after ${timeoutSec}s (${tries} tries)`, {
          cause: err,
          context: { ...err.context, tries, timeoutSec },
        });
      }
      log?.debug({ what, tries, delayMs: delay }, 'zfs: busy, retrying');
      await sleep(delay);
      delay = Math.min(delay * 2, 2000);
    }
  }
}

export interface ZfsCliOptions {
  /** How long a "dataset is busy" answer is retried before E_ZFS_BUSY. */
  busyTimeoutSec?: number;
  bin?: string;
  log?: Logger;
}

function propArgs(props: Record<string, string>): string[] {
  return Object.entries(props).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
}

export class ZfsCli implements Zfs {
  private readonly bin: string;
  private readonly busyTimeoutSec: number;
  private readonly log: Logger | undefined;

  constructor(opts: ZfsCliOptions = {}) {
    this.bin = opts.bin ?? 'zfs';
    this.busyTimeoutSec = opts.busyTimeoutSec ?? 30;
    this.log = opts.log;
  }

  /** One attempt; busy → E_ZFS_BUSY so the caller's retry loop can tell it apart from real failures. */
  private async once(args: string[]): Promise<string> {
    const r = await execa(this.bin, args, { reject: false, stdin: 'ignore', env: ENV });
    if (r.exitCode === 0) return r.stdout;
    const stderr = (r.stderr || r.shortMessage || '').trim();
    const context = { args, stderr, exitCode: r.exitCode };
    if (isBusyMessage(stderr)) throw new ZfsError('E_ZFS_BUSY', `zfs ${args.join(' ')}: ${stderr}`, { context });
    throw new ZfsError('E_ZFS_COMMAND', `zfs ${args.join(' ')} failed: ${stderr}`, { context });
  }

  private run(args: string[]): Promise<string> {
    return retryWhileBusy(this.busyTimeoutSec, `zfs ${args.join(' ')}`, () => this.once(args), this.log);
  }

  async snapshots(dataset: string): Promise<Snapshot[]> {
    let out: string;
    try {
      // -d 1: snapshots of this dataset only; zfs-fuse's `list` has no -p, so numbers come from `get -p` below.
      out = await this.run(['list', '-H', '-t', 'snapshot', '-o', 'name', '-s', 'createtxg', '-d', '1', dataset]);
    } catch (err) {
      if (err instanceof ZfsError && isMissingMessage(String(err.context['stderr']))) return [];
      throw err;
    }
    const names = out.split('\n').filter((n) => n.startsWith(`${dataset}@`) && snapshotVersion(n) !== null);
    if (names.length === 0) return [];
    const props = await this.run(['get', '-H', '-p', '-o', 'name,property,value', 'guid,createtxg', ...names]);
    const byName = new Map<string, { guid?: string; createtxg?: number }>();
    for (const line of props.split('\n')) {
      const [name, prop, value] = line.split('\t');
      if (!name || !value) continue;
      const entry = byName.get(name) ?? {};
      if (prop === 'guid') entry.guid = value;
      if (prop === 'createtxg') entry.createtxg = Number(value);
      byName.set(name, entry);
    }
    const snaps = names.map((name) => ({
      name,
      version: snapshotVersion(name) as number,
      guid: byName.get(name)?.guid ?? '',
      createtxg: byName.get(name)?.createtxg ?? 0,
    }));
    // Oldest → newest by creation txg: a version number says nothing about receive order.
    return snaps.sort((a, b) => a.createtxg - b.createtxg);
  }

  async exists(name: string): Promise<boolean> {
    try {
      await this.run(['list', '-H', '-o', 'name', '-t', 'all', name]);
      return true;
    } catch (err) {
      if (err instanceof ZfsError && isMissingMessage(String(err.context['stderr']))) return false;
      throw err;
    }
  }

  async children(parent: string): Promise<string[]> {
    const out = await this.run(['list', '-H', '-o', 'name', '-t', 'filesystem,volume', '-d', '1', parent]);
    return out.split('\n').filter((n) => n !== '' && n !== parent);
  }

  async recv(target: string, stdin: number | Readable): Promise<void> {
    const args = ['recv', target];
    // execa's types list only fds 0 and 3-9, but at run time any fd number (or stream) goes to spawn() as is.
    const input = stdin as Readable;
    const sub = execa(this.bin, args, { reject: false, stdin: input, stdout: 'ignore', env: ENV });
    // The child holds its own copy of the pipe now: drop ours in the same tick, before the event loop could read
    // from it, so the bytes go process to process and the writer sees EPIPE if recv dies.
    if (typeof stdin !== 'number') stdin.destroy();
    const r = await sub;
    if (r.exitCode === 0) return;
    const stderr = (r.stderr || r.shortMessage || '').trim();
    const context = { args, stderr, exitCode: r.exitCode, signal: r.signal };
    if (isBusyMessage(stderr)) throw new ZfsError('E_ZFS_BUSY', `zfs recv ${target}: ${stderr}`, { context });
    throw new ZfsError('E_ZFS_RECV', `zfs recv ${target} failed: ${stderr}`, { context });
  }

  send(snapshot: string, fromSnapshot?: string): SendStream {
    const args = fromSnapshot ? ['send', '-i', fromSnapshot, snapshot] : ['send', snapshot];
    const sub = execa(this.bin, args, { reject: false, stdin: 'ignore', stdout: 'pipe', buffer: { stdout: false }, env: ENV });
    const done = sub.then((r) => {
      if (r.exitCode === 0) return;
      const stderr = (r.stderr || r.shortMessage || '').trim();
      throw new ZfsError('E_ZFS_COMMAND', `zfs ${args.join(' ')} failed: ${stderr}`, { context: { args, stderr, exitCode: r.exitCode } });
    });
    return { stdout: sub.stdout, done, kill: () => void sub.kill() };
  }

  async rollback(snapshot: string): Promise<void> {
    // No -r: rolling back over newer snapshots would silently drop received history.
    await this.run(['rollback', snapshot]);
  }

  async destroy(name: string, opts: { recursive?: boolean } = {}): Promise<void> {
    await this.run(opts.recursive ? ['destroy', '-r', name] : ['destroy', name]);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.run(['rename', from, to]);
  }

  async setProps(name: string, props: Record<string, string>): Promise<void> {
    // zfs-fuse's `set` takes one property per call.
    for (const [k, v] of Object.entries(props)) await this.run(['set', `${k}=${v}`, name]);
  }

  async getProp(name: string, prop: string): Promise<string> {
    return (await this.run(['get', '-H', '-p', '-o', 'value', prop, name])).trim();
  }

  async clone(snapshot: string, target: string, props: Record<string, string> = {}): Promise<void> {
    await this.run(['clone', ...propArgs(props), snapshot, target]);
  }

  async mountpoint(name: string): Promise<string | null> {
    const [mounted, mountpoint] = (await this.run(['get', '-H', '-o', 'value', 'mounted,mountpoint', name])).split('\n');
    return mounted?.trim() === 'yes' && mountpoint ? mountpoint.trim() : null;
  }

  async mount(name: string): Promise<void> {
    if ((await this.mountpoint(name)) !== null) return;
    await this.run(['mount', name]);
  }

  async unmount(name: string): Promise<void> {
    try {
      await this.run(['unmount', name]);
    } catch (err) {
      if (err instanceof ZfsError && /not currently mounted/i.test(String(err.context['stderr']))) return;
      throw err;
    }
  }
}
