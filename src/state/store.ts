// Typed access to deployments, the append-only journal and the persisted trust floors; each write is one transaction.
import type { Db } from './db.js';
import { canTransition, TERMINAL, type Phase } from '../core/phases.js';
import { StateError } from '../errors.js';
import { Journal, type JournalEntry, type JournalPruned } from './journal.js';
import type { JournalEvent } from './journal-events.js';
import { META_KEYS } from './meta-keys.js';
import type { FileIdentity } from '../util/file-identity.js';
import { StoreListeners, type StoreListener } from './store-events.js';
import { toDeployment, type Deployment, type DeploymentPatch, type NewDeployment, type Row, type TransitionMeta, type StoreOptions } from './deployment.js';

export type { JournalEntry, JournalPruned, JournalRetention } from './journal.js';
export type { JournalEvent } from './journal-events.js';
export type { StoreChange, StoreListener } from './store-events.js';
export type { Deployment, DeploymentPatch, NewDeployment, TransitionMeta, StoreOptions } from './deployment.js';

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const NOT_TERMINAL = `phase NOT IN (${[...TERMINAL].map((p) => `'${p}'`).join(',')})`;

export class Store {
  private readonly journalTable: Journal;
  private readonly listeners = new StoreListeners();

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
    opts: StoreOptions = {},
  ) {
    this.journalTable = new Journal(db, now, () => this.activeId(), opts);
  }

  create(d: NewDeployment): Deployment {
    const at = this.now();
    const id = this.db.transaction(() => {
      const info = this.db
        .prepare(
          `INSERT INTO deployments (version, label, manifest_url, envelope, payload_sha256, phase, image_size, image_sha256, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
        )
        .run(d.version, d.label, d.manifestUrl, d.envelope, d.payloadSha256, d.imageSize, d.imageSha256, at, at);
      const newId = Number(info.lastInsertRowid);
      this.appendJournal(newId, 'created', null, 'pending', { version: d.version, label: d.label });
      return newId;
    })();
    this.listeners.emit({ kind: 'created', id });
    return this.get(id);
  }

  /** `fn` is called after every committed write (create, transition, update, journal, committed version); returns the unsubscribe. */
  subscribe(fn: StoreListener): () => void {
    return this.listeners.add(fn);
  }

  get(id: number): Deployment {
    const row = this.db.prepare('SELECT * FROM deployments WHERE id = ?').get(id) as Row | undefined;
    if (!row) throw new StateError('E_NO_DEPLOYMENT', `no deployment ${id}`, { context: { id } });
    return toDeployment(row);
  }

  /** The one deployment not yet in a terminal phase, if any (the newest wins should there ever be two). */
  active(): Deployment | null {
    const row = this.db.prepare(`SELECT * FROM deployments WHERE ${NOT_TERMINAL} ORDER BY id DESC LIMIT 1`).get() as Row | undefined;
    return row ? toDeployment(row) : null;
  }

  /** The id of `active()`, without reading the row (the journal's prune asks at every append). */
  private activeId(): number | null {
    const row = this.db.prepare(`SELECT id FROM deployments WHERE ${NOT_TERMINAL} ORDER BY id DESC LIMIT 1`).get() as { id: number } | undefined;
    return row?.id ?? null;
  }

  latestForVersion(version: number): Deployment | null {
    const row = this.db.prepare('SELECT * FROM deployments WHERE version = ? ORDER BY id DESC LIMIT 1').get(version) as Row | undefined;
    return row ? toDeployment(row) : null;
  }

  list(limit = 100): Deployment[] {
    return (this.db.prepare('SELECT * FROM deployments ORDER BY id DESC LIMIT ?').all(limit) as Row[]).map(toDeployment);
  }

  /**
   * Moves a deployment to `to` (refusing illegal edges), applying `patch`, recording `meta` and journaling,
   * atomically (the commit moves the committed version with the phase: neither is ever seen without the other).
   */
  transition(
    id: number, to: Phase, patch: DeploymentPatch = {}, event: JournalEvent = 'phase', data: unknown = undefined, meta: TransitionMeta = {},
  ): Deployment {
    const from = this.db.transaction(() => {
      const cur = this.get(id);
      if (!canTransition(cur.phase, to)) {
        throw new StateError('E_STATE_TRANSITION', `deployment ${id}: ${cur.phase} -> ${to} is not allowed`, {
          context: { id, from: cur.phase, to },
        });
      }
      this.applyPatch(id, { ...patch }, to);
      if (meta.committedVersion !== undefined) this.setMeta(META_KEYS.committedVersion, String(meta.committedVersion));
      this.appendJournal(id, event, cur.phase, to, data ?? (patch.reasonCode ? { code: patch.reasonCode, reason: patch.reason } : null));
      return cur.phase;
    })();
    this.listeners.emit({ kind: 'phase', id, from, to, event });
    return this.get(id);
  }

  /** Updates columns without changing the phase (download progress, resume counters). */
  update(id: number, patch: DeploymentPatch): Deployment {
    this.applyPatch(id, patch, null);
    this.listeners.emit({ kind: 'update', id });
    return this.get(id);
  }

  private applyPatch(id: number, patch: DeploymentPatch, phase: Phase | null): void {
    const cols: string[] = ['updated_at = @updated_at'];
    const params: Row = { id, updated_at: this.now() };
    if (phase) {
      cols.push('phase = @phase');
      params['phase'] = phase;
    }
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      cols.push(`${snake(k)} = @${k}`);
      params[k] = v;
    }
    this.db.prepare(`UPDATE deployments SET ${cols.join(', ')} WHERE id = @id`).run(params);
  }

  journal(event: JournalEvent, deploymentId: number | null, data: unknown = null): void {
    this.appendJournal(deploymentId, event, null, null, data);
    this.listeners.emit({ kind: 'journal', id: deploymentId, event });
  }

  /** The time of the newest journal row of `event` still kept (the last check-in, say), or null. */
  lastEventAt(event: JournalEvent): number | null {
    return this.journalTable.lastAt(event);
  }

  /** Journals and prunes in one transaction (a savepoint inside `create`'s and `transition`'s). */
  private appendJournal(deploymentId: number | null, event: JournalEvent, from: string | null, to: string | null, data: unknown): void {
    this.journalTable.append(deploymentId, event, from, to, data);
  }

  history(limit = 200, deploymentId?: number): JournalEntry[] {
    return this.journalTable.history(limit, deploymentId);
  }

  /** Rows pruned from the journal so far (total, and the newest pruned id and time), or null if none ever was. */
  journalPruned(): JournalPruned | null {
    return this.journalTable.pruned();
  }

  /** The time of the oldest journal row kept, or null when the journal is empty. */
  journalOldestAt(): number | null {
    return this.journalTable.oldestAt();
  }

  getFloor(name: 'version' | 'issued'): string | null {
    const row = this.db.prepare('SELECT value FROM floors WHERE name = ?').get(name) as { value: string } | undefined;
    return row?.value ?? null;
  }

  /** Floors only rise: a lower value is ignored. Versions compare as integers, instants as ISO strings' dates. */
  raiseFloors(version: number, issued: string): void {
    this.db.transaction(() => {
      const v = this.getFloor('version');
      if (v === null || Number(v) < version) this.db.prepare('INSERT OR REPLACE INTO floors (name, value) VALUES (?, ?)').run('version', String(version));
      const i = this.getFloor('issued');
      if (i === null || Date.parse(i) < Date.parse(issued)) this.db.prepare('INSERT OR REPLACE INTO floors (name, value) VALUES (?, ?)').run('issued', issued);
    })();
  }

  /** The committed image's version as recorded (null before the first switch recorded one). */
  committedVersion(): number | null {
    const v = this.getMeta(META_KEYS.committedVersion);
    return v === null ? null : Number(v);
  }

  recordCommittedVersion(version: number): void {
    this.setMeta(META_KEYS.committedVersion, String(version));
    this.listeners.emit({ kind: 'committed-version', version });
  }

  /** The identity of image `version`'s file when its export verified it, or null. */
  verifiedImage(version: number): FileIdentity | null {
    const v = this.getMeta(META_KEYS.verifiedImage(version));
    return v === null ? null : (JSON.parse(v) as FileIdentity);
  }

  setVerifiedImage(version: number, identity: FileIdentity): void {
    this.setMeta(META_KEYS.verifiedImage(version), JSON.stringify(identity));
  }

  private getMeta(key: string): string | null {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  private setMeta(key: string, value: string): void {
    this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }
}
