// The fleet server's logic behind HTTP: check-ins and rollouts, on-demand diffs and their statements, housekeeping.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { SecretKey } from '../trust/keys.js';
import { decodeBase64Strict } from '../trust/keys.js';
import { parseDelegation, type Delegation } from '../trust/delegation.js';
import { signDiffStatement } from '../trust/delegation-sign.js';
import type { Envelope } from '../trust/manifest-types.js';
import { UpgradeError, UsageError } from '../errors.js';
import type { FleetStore, RolloutRow } from './fleet-store.js';
import type { ServeConfig } from './serve-config.js';
import type { DiffAsk, DiffBuilds } from './diff-builds.js';
import { decideTarget, healthOf, rolloutTick } from './rollout.js';
import { deviceFromReport } from './checkin-report.js';
import { evictionPlan, protectedPairs } from './diff-policy.js';
import { fleetStatus, type FleetStatus } from './fleet-status.js';

export type OfferAnswer = { kind: 'offer'; body: string } | { kind: 'wait'; status: 202 | 503; retryAfterSec: number } | { kind: 'none'; code: string; message: string };

export class FleetService {
  private lastTick = 0;
  private readonly statements = new Map<string, Envelope>();

  constructor(
    private readonly cfg: ServeConfig,
    readonly store: FleetStore,
    readonly builds: DiffBuilds,
    private readonly delegate: SecretKey | null,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  /** POST /v1/checkin: records the device and answers its target (null: 400). */
  async checkin(body: unknown): Promise<object | null> {
    const id = typeof body === 'object' && body !== null ? (body as { deviceId?: unknown }).deviceId : undefined;
    // Read and write under the device's lock: two instances counting one device's check-ins lose none.
    const row = typeof id === 'string' ? await this.store.recordCheckin(id, (prev) => deviceFromReport(body, prev, this.now(), this.cfg.checkinIntervalSec)) : null;
    if (row === null) return null;
    const rollouts = await this.tick();
    const decision = decideTarget(row, rollouts, await this.store.pins(), await this.store.holds());
    const v = decision.version;
    const target = v !== null && existsSync(join(this.cfg.publishDir, 'manifests', `${v}.json`)) ? { version: v, manifest: `manifests/${v}.json` } : null;
    return { target, checkinIntervalSec: this.cfg.checkinIntervalSec };
  }

  /** Applies the rollouts' schedules and automatic pauses (at most once a second), and returns the rollouts. */
  async tick(force = false): Promise<RolloutRow[]> {
    const rollouts = await this.store.rollouts();
    if (!force && this.now() - this.lastTick < 1000) return rollouts;
    this.lastTick = this.now();
    // The counts by one GROUP BY, not every device row: this runs once a second while a rollout is active.
    const counts = rollouts.some((r) => r.state === 'active') ? await this.store.deploymentCounts() : [];
    const out: RolloutRow[] = [];
    for (const r of rollouts) {
      const change = rolloutTick(r, healthOf(r, counts), this.now(), this.cfg.rollout);
      if (change.kind === 'pause') {
        this.log.warn({ rollout: r.id, reason: change.reason }, 'rollout paused');
        out.push(await this.store.updateRollout(r.id, { state: 'paused', pausedReason: change.reason, changedAt: this.now() }, r.changedAt));
      } else if (change.kind === 'widen') {
        // Conditional on the row read: another instance's step (or the operator's change) since then wins.
        out.push(await this.store.updateRollout(r.id, { percent: change.percent, changedAt: this.now() }, r.changedAt));
      } else out.push(r);
    }
    return out;
  }

  /** The published delegation of a version, as the server reads it (the device verifies it; the server trusts its own file). */
  private delegation(version: number): { envelope: Envelope; terms: Delegation } | null {
    const path = join(this.cfg.publishDir, 'delegations', `${version}.json`);
    if (!existsSync(path)) return null;
    const envelope = JSON.parse(readFileSync(path, 'utf8')) as Envelope;
    const payload = decodeBase64Strict(envelope.payload);
    if (payload === null) throw new UpgradeError('E_DELEGATION_PAYLOAD', `${path}: payload is not base64`);
    return { envelope, terms: parseDelegation(payload) };
  }

  /** GET /v1/diffs/<version>/<from>: the delegation and a statement for the built diff, or come back later, or none. */
  async diffOffer(version: number, from: number): Promise<OfferAnswer> {
    const d = this.delegation(version);
    const none = (code: string, message: string): OfferAnswer => ({ kind: 'none', code, message });
    if (d === null || this.delegate === null) return none('E_DELEGATION_SCOPE', `no on-demand diffs for version ${version}`);
    const t = d.terms;
    if (t.key.keyid !== this.delegate.keyid) return none('E_DELEGATION_SCOPE', `the delegation of ${version} names key ${t.key.keyid}, not this server's`);
    if (from < t.bases.min || from > t.bases.max || Date.parse(t.notAfter) <= this.now() || t.compression !== this.cfg.diffs.compression) {
      return none('E_DELEGATION_SCOPE', `the delegation of ${version} does not cover a diff from ${from} now`);
    }
    const ask = await this.builds.ask(from, version);
    if (ask.kind !== 'ready') return this.notReady(ask);
    if (ask.row.size > t.maxSize) return none('E_DELEGATION_SCOPE', `the diff ${from}-${version} is larger than the delegation allows`);
    const key = `${from}-${version}-${ask.row.sha256}`;
    let statement = this.statements.get(key);
    if (!statement) {
      // issued = when it was built: the same statement, byte for byte, however often it is asked for.
      statement = signDiffStatement({ version, from, manifestSha256: t.manifestSha256, size: ask.row.size, sha256: ask.row.sha256, compression: t.compression, issued: new Date(ask.row.builtAt).toISOString() }, this.delegate);
      this.statements.set(key, statement);
    }
    return { kind: 'offer', body: JSON.stringify({ delegation: d.envelope, statement, urls: [`/streams/${this.streamName(from, version)}`] }) };
  }

  notReady(ask: Exclude<DiffAsk, { kind: 'ready' }>): OfferAnswer {
    if (ask.kind === 'building') return { kind: 'wait', status: 202, retryAfterSec: ask.retryAfterSec };
    if (ask.kind === 'busy') return { kind: 'wait', status: 503, retryAfterSec: ask.retryAfterSec };
    if (ask.kind === 'failed') return { kind: 'none', code: ask.code, message: `the build failed: ${ask.message}; take the full stream` };
    return { kind: 'none', code: 'E_DIFF_BUILD', message: 'this diff cannot be built here; take the full stream' };
  }

  streamName(from: number, to: number): string {
    return `${from}-${to}.zfs${this.cfg.diffs.compression === 'xz' ? '.xz' : ''}`;
  }

  /** Newest version with a published manifest. */
  newestRelease(): number | null {
    const dir = join(this.cfg.publishDir, 'manifests');
    if (!existsSync(dir)) return null;
    const vs = readdirSync(dir).map((f) => /^(\d+)\.json$/.exec(f)?.[1]).filter((v): v is string => v !== undefined).map(Number);
    return vs.length === 0 ? null : Math.max(...vs);
  }

  /** Evicts least recently served built diffs over the byte budget, never the protected ones; returns what went. */
  async housekeeping(): Promise<string[]> {
    // After every build: the bases in use by one aggregate, not every device row.
    const keep = protectedPairs(this.newestRelease(), await this.store.committedCounts(), this.cfg.diffs.protectBases);
    const gone = evictionPlan(await this.store.diffs(), this.cfg.diffs.budgetBytes, keep);
    const out: string[] = [];
    for (const d of gone) {
      // Only the instance whose delete took this build's row removes its file (a rebuilt pair has another builtAt).
      if (!(await this.store.removeDiff(d.from, d.to, d.builtAt))) continue;
      rmSync(d.file, { force: true });
      this.log.info({ pair: `${d.from}-${d.to}`, size: d.size }, 'diff evicted');
      out.push(`${d.from}-${d.to}`);
    }
    return out;
  }

  /**
   * The operator's status: on request only, not on a timer, so it keeps reading every device (it lists the failing
   * and silent ones, and counts each rollout's cohort by the devices' hashed ids, which SQL cannot group by).
   */
  async status(): Promise<FleetStatus> {
    const rollouts = await this.tick(true);
    const built = await this.store.diffs();
    const b = this.builds.stats;
    return fleetStatus(await this.store.devices(), rollouts, this.now(), this.cfg.silentIntervals, {
      built: built.length, bytes: built.reduce((a, d) => a + d.size, 0), queued: this.builds.queued(), answered202: b.answered202, buildsFailed: b.failed,
    });
  }

  /** The operator's verbs (POST /v1/admin/<op>). */
  async admin(op: string, a: Record<string, unknown>): Promise<object> {
    const int = (k: string, min = 0, max = Number.MAX_SAFE_INTEGER): number => {
      const v = a[k];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new UsageError('E_USAGE', `${k} must be a number within ${min}..${max}`);
      return v;
    };
    const str = (k: string): string => {
      if (typeof a[k] !== 'string' || a[k] === '') throw new UsageError('E_USAGE', `${k} must be a non-empty string`);
      return a[k];
    };
    const t = this.now();
    switch (op) {
      case 'start':
        return this.store.createRollout({
          channel: str('channel'), hardware: str('hardware'), version: int('version', 1), percent: int('percent', 0, 100), state: 'active', pausedReason: null,
          stepPercent: a.stepPercent === undefined ? 0 : int('stepPercent', 0, 100), everySec: a.everySec === undefined ? 0 : int('everySec', 0), createdAt: t, changedAt: t,
        });
      case 'widen':
        return this.store.updateRollout(int('id', 1), { percent: int('percent', 0, 100), changedAt: t });
      case 'pause':
        return this.store.updateRollout(int('id', 1), { state: 'paused', pausedReason: 'operator', changedAt: t });
      case 'resume':
        return this.store.updateRollout(int('id', 1), { state: 'active', pausedReason: null, changedAt: t });
      case 'pin':
        if (a.version === undefined) await this.store.removePin(str('deviceId'));
        else await this.store.setPin(str('deviceId'), a.version === null ? null : int('version', 1));
        return { pins: Object.fromEntries(await this.store.pins()) };
      case 'hold':
        await this.store.setHold(int('version', 1), a.held !== false);
        return { holds: [...(await this.store.holds())] };
    }
    throw new UsageError('E_USAGE', `unknown admin operation ${op}`);
  }
}
