// On-demand diff builds: one build per pair however many ask (and however many server instances: a claim in the store),
// a bounded queue and concurrency, a deadline per build.
import { rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { UpgradeError, asUpgradeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { BuildClaim, DiffRow, FleetStore } from './fleet-store.js';
import { pairKey, retryAfterSec } from './diff-policy.js';

/** Writes the `from`→`to` stream to `outFile` (tmp + rename is the builder's job); aborted on the deadline. */
export interface DiffBuilder {
  canBuild(from: number, to: number): Promise<boolean>;
  build(from: number, to: number, outFile: string, signal: AbortSignal): Promise<{ size: number; sha256: string }>;
}

export type DiffAsk =
  | { kind: 'ready'; row: DiffRow }
  | { kind: 'building'; retryAfterSec: number }
  | { kind: 'busy'; retryAfterSec: number }
  | { kind: 'failed'; code: string; message: string }
  | { kind: 'unavailable' };

export interface DiffBuildsOptions {
  store: FleetStore;
  builder: DiffBuilder | null;
  dir: string;
  fileName: (from: number, to: number) => string;
  concurrency: number;
  maxQueue: number;
  timeoutMs: number;
  failedRetryMs: number;
  now: () => number;
  log: Logger;
  /** After each successful build (housekeeping runs here). */
  built?: (row: DiffRow) => Promise<void>;
}

/** A build claim outlives its deadline by this much (the owner records the result after the deadline). */
const LEASE_SLACK_MS = 60_000;

interface Job { from: number; to: number; startedAt: number | null; done: Promise<void>; resolve: () => void }

export class DiffBuilds {
  private readonly jobs = new Map<string, Job>();
  private readonly queue: string[] = [];
  private running = 0;
  private stopping = false;
  private readonly aborts = new Set<AbortController>();
  /** This instance's name on its build claims. */
  readonly owner = randomUUID();
  private readonly recentMs: number[] = [];
  readonly stats = { started: 0, succeeded: 0, failed: 0, answered202: 0 };

  constructor(private readonly o: DiffBuildsOptions) {}

  /** Where the pair stands; a missing diff is queued (once) when it can be built. */
  async ask(from: number, to: number): Promise<DiffAsk> {
    const key = pairKey(from, to);
    const row = await this.o.store.diff(from, to);
    if (row) return { kind: 'ready', row };
    const job = this.jobs.get(key);
    if (job) return this.building(job, key);
    if (this.stopping) return { kind: 'busy', retryAfterSec: 30 };
    const held = await this.o.store.buildClaim(from, to);
    if (held && held.expiresAt > this.o.now()) return this.claimed(held);
    if (!this.o.builder || !(await this.o.builder.canBuild(from, to))) return { kind: 'unavailable' };
    if (this.queue.length >= this.o.maxQueue) {
      return { kind: 'busy', retryAfterSec: retryAfterSec(this.recentMs, { running: false, position: this.queue.length }, this.o.concurrency) };
    }
    // The lease covers the wait in this queue and the build; it is renewed when the build starts.
    const rounds = Math.floor(this.queue.length / this.o.concurrency) + 2;
    const won = await this.o.store.claimBuild({ from, to, owner: this.owner, now: this.o.now(), expiresAt: this.o.now() + rounds * this.o.timeoutMs + LEASE_SLACK_MS });
    if (!won) {
      const other = await this.o.store.buildClaim(from, to);
      if (other) return this.claimed(other);
      return this.ask(from, to); // built and released in between: the row is there now
    }
    const again = this.jobs.get(key); // another ask of this instance won the claim while this one waited
    if (again) return this.building(again, key);
    let resolve = (): void => {};
    const done = new Promise<void>((r) => (resolve = r));
    const fresh: Job = { from, to, startedAt: null, done, resolve };
    this.jobs.set(key, fresh);
    this.queue.push(key);
    this.pump();
    return this.building(fresh, key);
  }

  /** Shutdown: nothing new starts, queued jobs are dropped, running builds are aborted; settles when all ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const key of this.queue.splice(0)) {
      const job = this.jobs.get(key);
      this.jobs.delete(key);
      job?.resolve();
      // Its claim is released, so another instance builds the pair now rather than at the claim's lease.
      if (job) await this.o.store.finishBuild(job.from, job.to, this.owner, null).catch(() => undefined);
    }
    for (const ac of this.aborts) ac.abort(new UpgradeError('E_DIFF_BUILD', 'the server is stopping'));
    await Promise.all([...this.jobs.values()].map((j) => j.done));
  }

  /** Settles when the pair's build (if any) ended; for tests and shutdown. */
  async settled(from: number, to: number): Promise<void> {
    await this.jobs.get(pairKey(from, to))?.done;
  }

  recentBuildMs(): readonly number[] {
    return this.recentMs;
  }

  queued(): number {
    return this.queue.length;
  }

  private building(job: Job, key: string): DiffAsk {
    this.stats.answered202++;
    const where = job.startedAt === null ? { running: false as const, position: Math.max(0, this.queue.indexOf(key)) } : { running: true as const, elapsedMs: this.o.now() - job.startedAt };
    return { kind: 'building', retryAfterSec: retryAfterSec(this.recentMs, where, this.o.concurrency) };
  }

  /** A claim of another instance (or this instance's failure, shared with the others). */
  private claimed(c: BuildClaim): DiffAsk {
    if (c.state === 'failed') return { kind: 'failed', code: c.code ?? 'E_DIFF_BUILD', message: c.message ?? 'build failed' };
    this.stats.answered202++;
    return { kind: 'building', retryAfterSec: retryAfterSec(this.recentMs, { running: true, elapsedMs: this.o.now() - c.at }, this.o.concurrency) };
  }

  private pump(): void {
    while (this.running < this.o.concurrency && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      const job = this.jobs.get(key) as Job;
      this.running++;
      void this.run(job, key).finally(() => {
        this.running--;
        this.jobs.delete(key);
        job.resolve();
        this.pump();
      });
    }
  }

  private async run(job: Job, key: string): Promise<void> {
    const builder = this.o.builder as DiffBuilder;
    const file = join(this.o.dir, this.o.fileName(job.from, job.to));
    job.startedAt = this.o.now();
    this.stats.started++;
    if (!(await this.o.store.renewBuild(job.from, job.to, this.owner, job.startedAt, job.startedAt + this.o.timeoutMs + LEASE_SLACK_MS).catch(() => false))) {
      this.o.log.warn({ pair: key }, 'build claim lost before the build started; another instance builds it');
      return;
    }
    this.o.log.info({ pair: key, queued: this.queue.length }, 'diff build started; devices asking for it get 202 until it is built');
    const ac = new AbortController();
    this.aborts.add(ac);
    const timer = setTimeout(() => ac.abort(new UpgradeError('E_DIFF_BUILD', `build ${key} exceeded ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
    try {
      // A builder that ignores the signal still cannot hold the job past its deadline.
      const deadline = new Promise<never>((_, reject) => ac.signal.addEventListener('abort', () => reject(ac.signal.reason as Error), { once: true }));
      deadline.catch(() => undefined);
      const digest = await Promise.race([builder.build(job.from, job.to, file, ac.signal), deadline]);
      const buildMs = this.o.now() - job.startedAt;
      const row: DiffRow = { from: job.from, to: job.to, file, size: digest.size, sha256: digest.sha256, builtAt: this.o.now(), buildMs, lastServedAt: this.o.now(), served: 0 };
      await this.o.store.putDiff(row);
      await this.o.store.finishBuild(job.from, job.to, this.owner, null);
      this.recentMs.push(buildMs);
      if (this.recentMs.length > 5) this.recentMs.shift();
      this.stats.succeeded++;
      this.o.log.info({ pair: key, size: digest.size, buildMs }, 'diff built');
      await this.o.built?.(row);
    } catch (raw) {
      const err = ac.signal.aborted ? asUpgradeError(ac.signal.reason) : asUpgradeError(raw);
      const code = err.code === 'E_INTERNAL' ? 'E_DIFF_BUILD' : err.code;
      rmSync(file, { force: true });
      const at = this.o.now();
      await this.o.store.finishBuild(job.from, job.to, this.owner, { code, message: err.message, at, expiresAt: at + this.o.failedRetryMs })
        .catch((e: unknown) => this.o.log.error({ pair: key, err: (e as Error).message }, 'cannot record the failed build; its claim lapses at its lease'));
      this.stats.failed++;
      this.o.log.warn({ pair: key, code, err: err.message }, 'diff build failed; devices get the full stream');
    } finally {
      clearTimeout(timer);
      this.aborts.delete(ac);
    }
  }
}
