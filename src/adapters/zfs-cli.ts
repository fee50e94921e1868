// Zfs over the `zfs` command line (works with OpenZFS and zfs-fuse): busy retries here, errors as ZfsError.
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { execaIfLoaded, loadExeca, holdPipe, sendOnceLoaded } from './exec.js';
import { ZfsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RecvFeed, RecvOptions, SendStream, Snapshot, Zfs } from './zfs.js';
import { hasKernelModule, parseCapabilities, type ZfsCapabilities } from './zfs-capabilities.js';
import { DatasetView, LIST_PROPS, parseGetRows } from './zfs-list.js';
import { isBusyMessage, isMissingMessage, isPipeError } from './zfs-messages.js';

const ENV = { LC_ALL: 'C', LANG: 'C' };

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
  /**
   * A command `zfs` runs under, e.g. `nsenter --mount=/proc/1/ns/mnt --`: an agent in its own mount namespace (a
   * read-only /host made writable there) mounts and unmounts datasets where the rest of the system sees them.
   */
  via?: readonly string[];
}

function propArgs(props: Record<string, string>): string[] {
  return Object.entries(props).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
}

export class ZfsCli implements Zfs {
  private readonly bin: string;
  private readonly via: readonly string[];
  private readonly busyTimeoutSec: number;
  private readonly log: Logger | undefined;
  private caps: Promise<ZfsCapabilities> | undefined;
  /** The probe's answer once it is in: recv reads it synchronously (see recv). */
  private known: ZfsCapabilities | undefined;

  constructor(opts: ZfsCliOptions = {}) {
    this.bin = opts.bin ?? 'zfs';
    this.via = opts.via ?? [];
    this.busyTimeoutSec = opts.busyTimeoutSec ?? 30;
    this.log = opts.log;
  }

  /** The program and its arguments: `zfs ARGS`, or under `via`. */
  private argv(args: string[]): [string, string[]] {
    const [first, ...rest] = [...this.via, this.bin, ...args];
    return [first as string, rest];
  }

  /** One attempt; busy → E_ZFS_BUSY so the caller's retry loop can tell it apart from real failures. */
  private async once(args: string[]): Promise<string> {
    const execa = await loadExeca();
    const r = await execa(...this.argv(args), { reject: false, stdin: 'ignore', env: ENV });
    if (r.exitCode === 0) return r.stdout;
    const stderr = (r.stderr || r.shortMessage || '').trim();
    const context = { args, stderr, exitCode: r.exitCode };
    if (isBusyMessage(stderr)) throw new ZfsError('E_ZFS_BUSY', `zfs ${args.join(' ')}: ${stderr}`, { context });
    throw new ZfsError('E_ZFS_COMMAND', `zfs ${args.join(' ')} failed: ${stderr}`, { context });
  }

  private run(args: string[]): Promise<string> {
    return retryWhileBusy(this.busyTimeoutSec, `zfs ${args.join(' ')}`, () => this.once(args), this.log);
  }

  /** Probed once from `zfs`'s usage text (printed when it is run without a command). */
  capabilities(): Promise<ZfsCapabilities> {
    this.caps ??= loadExeca().then((execa) => execa(...this.argv([]), { reject: false, stdin: 'ignore', env: ENV })).then((r) => {
      this.known = parseCapabilities(`${r.stdout}\n${r.stderr}`, hasKernelModule());
      return this.known;
    });
    return this.caps;
  }

  async view(dataset: string): Promise<DatasetView> {
    const slash = dataset.lastIndexOf('/');
    const parent = slash < 0 ? dataset : dataset.slice(0, slash);
    // `get -Hp` is parseable on every implementation (zfs-fuse's `list` has no -p: its guid column reads "11.2E"),
    // so the listing needs no probe first and the probe can run alongside it.
    const args = ['get', '-Hp', '-d', '2', '-o', 'name,property,value', LIST_PROPS.join(','), parent];
    try {
      return new DatasetView(parseGetRows(await this.run(args)));
    } catch (err) {
      if (err instanceof ZfsError && isMissingMessage(String(err.context['stderr']))) return new DatasetView([]);
      throw err;
    }
  }

  async snapshots(dataset: string): Promise<Snapshot[]> {
    return (await this.view(dataset)).snapshots(dataset);
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

  async recv(target: string, stdin: number | Readable | RecvFeed, opts: RecvOptions = {}): Promise<void> {
    // No await before the spawn: a pipe handed in is read by this process once the event loop turns. So the
    // options use the capabilities only if they were probed already (importStream probes first where it needs them); else none.
    const caps = this.known;
    const args = ['recv'];
    if (opts.noMount && caps?.receiveNoMount) args.push('-u');
    if (opts.props && caps?.receiveProps) args.push(...propArgs(opts.props));
    args.push(target);
    // execa is imported at first use (src/adapters/exec.ts); importStream's listing before it imported it already. Were it not, a pipe
    // handed in goes through this process instead: awaiting the import first could read (and so lose) its first bytes.
    const execa = execaIfLoaded();
    const viaUs = execa === null && typeof stdin === 'object' ? stdin : null;
    let feed = typeof stdin === 'function' ? stdin : null;
    if (viaUs) feed = holdPipe(viaUs);
    // execa's types list only fds 0 and 3-9, but at run time any fd number (or stream) goes to spawn() as is.
    const input = (feed ? 'pipe' : stdin) as Readable;
    const sub = (execa ?? (await loadExeca()))(...this.argv(args), { reject: false, stdin: input, stdout: 'ignore', env: ENV });
    // The child holds its own copy of the pipe now: drop ours in the same tick, before the event loop could read
    // from it, so the bytes go process to process and the writer sees EPIPE if recv dies.
    if (typeof stdin === 'object' && !viaUs) stdin.destroy();
    let fed: Promise<unknown> = Promise.resolve(null);
    const pipe = (sub as unknown as { stdin: Writable | null }).stdin;
    if (feed && pipe) {
      pipe.on('error', () => undefined); // EPIPE when recv gives up: the receive's own error says why
      fed = feed(pipe).then(
        () => new Promise<null>((resolve) => pipe.end(() => resolve(null))),
        (err: unknown) => {
          pipe.destroy(); // EOF mid-stream: recv fails on the truncated stream, no byte after the bad one sent
          return err;
        },
      );
    }
    const [r, feedErr] = await Promise.all([sub, fed]);
    if (feedErr !== null && !isPipeError(feedErr)) throw feedErr;
    if (r.exitCode === 0) return;
    const stderr = (r.stderr || r.shortMessage || '').trim();
    const context = { args, stderr, exitCode: r.exitCode, signal: r.signal };
    if (isBusyMessage(stderr)) throw new ZfsError('E_ZFS_BUSY', `zfs recv ${target}: ${stderr}`, { context });
    throw new ZfsError('E_ZFS_RECV', `zfs recv ${target} failed: ${stderr}`, { context });
  }

  send(snapshot: string, fromSnapshot?: string): SendStream {
    const args = fromSnapshot ? ['send', '-i', fromSnapshot, snapshot] : ['send', snapshot];
    const execa = execaIfLoaded();
    if (!execa) return sendOnceLoaded(() => this.send(snapshot, fromSnapshot));
    const sub = execa(...this.argv(args), { reject: false, stdin: 'ignore', stdout: 'pipe', buffer: { stdout: false }, env: ENV });
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
    const pairs = Object.entries(props).map(([k, v]) => `${k}=${v}`);
    if (pairs.length === 0) return;
    // zfs-fuse's `set` takes one property per call.
    if ((await this.capabilities()).multiSet) await this.run(['set', ...pairs, name]);
    else for (const pair of pairs) await this.run(['set', pair, name]);
  }

  async getProp(name: string, prop: string): Promise<string> {
    return (await this.run(['get', '-H', '-p', '-o', 'value', prop, name])).trim();
  }

  /** `zfs snapshot NAME` (the publisher's builds; the device only receives snapshots, so it is not on Zfs). */
  async snapshot(name: string): Promise<void> {
    await this.run(['snapshot', name]);
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
