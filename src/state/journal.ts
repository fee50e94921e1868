// The journal table: each append prunes it by count and by age in the same transaction, sparing the active deployment.
import type { Db } from './db.js';
import { META_KEYS } from './meta-keys.js';

export interface JournalEntry {
  id: number;
  at: number;
  deploymentId: number | null;
  event: string;
  phaseFrom: string | null;
  phaseTo: string | null;
  data: unknown;
}

/** How much of the journal is kept (config `state.journalMaxRows`, `state.journalMaxAgeDays`). */
export interface JournalRetention {
  /** Rows kept by count: an append removes those more than this many ids behind the newest. */
  journalMaxRows: number;
  /** Rows whose `at` is older than this many days before the clock are removed. */
  journalMaxAgeDays: number;
}

export const JOURNAL_RETENTION_DEFAULTS: Readonly<JournalRetention> = { journalMaxRows: 10_000, journalMaxAgeDays: 365 };

/** What was pruned so far, in total: the row count, and the newest pruned row's id and time. */
export interface JournalPruned {
  rows: number;
  throughId: number;
  throughAt: number;
}

/** The meta key of the pruned record (persisted: never rename). */
const JOURNAL_PRUNED_KEY = META_KEYS.journalPruned;

const DAY_MS = 24 * 3600 * 1000;

/**
 * Rows beyond either bound, except the active deployment's (`@keep`, -1 when none; `IS NOT` also matches NULL).
 * The two ranges are the id primary key and the `journal_by_at` index, so a prune never scans the whole table.
 */
export const JOURNAL_BEYOND_BOUNDS = '(id <= @cutId OR at < @cutAt) AND deployment_id IS NOT @keep';

export class Journal {
  private readonly retention: JournalRetention;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
    /** The id of the deployment whose rows are never pruned (the active one), or null. */
    private readonly activeId: () => number | null,
    retention: Partial<JournalRetention> = {},
  ) {
    this.retention = {
      journalMaxRows: retention.journalMaxRows ?? JOURNAL_RETENTION_DEFAULTS.journalMaxRows,
      journalMaxAgeDays: retention.journalMaxAgeDays ?? JOURNAL_RETENTION_DEFAULTS.journalMaxAgeDays,
    };
  }

  /** Inserts one row and prunes, in one transaction (a savepoint inside the caller's, e.g. a phase transition). */
  append(deploymentId: number | null, event: string, from: string | null, to: string | null, data: unknown): number {
    return this.db.transaction(() => {
      const at = this.now();
      const info = this.db
        .prepare('INSERT INTO journal (at, deployment_id, event, phase_from, phase_to, data) VALUES (?, ?, ?, ?, ?, ?)')
        .run(at, deploymentId, event, from, to, data === null || data === undefined ? null : JSON.stringify(data));
      const id = Number(info.lastInsertRowid);
      this.prune(id, at);
      return id;
    })();
  }

  private prune(newestId: number, at: number): void {
    const params = {
      cutId: newestId - this.retention.journalMaxRows,
      cutAt: at - this.retention.journalMaxAgeDays * DAY_MS,
      keep: this.activeId() ?? -1,
    };
    const found = this.db.prepare(`SELECT COUNT(*) AS n, MAX(id) AS maxId FROM journal WHERE ${JOURNAL_BEYOND_BOUNDS}`).get(params) as { n: number; maxId: number | null };
    if (found.n === 0 || found.maxId === null) return;
    const throughAt = (this.db.prepare('SELECT at FROM journal WHERE id = ?').get(found.maxId) as { at: number }).at;
    this.db.prepare(`DELETE FROM journal WHERE ${JOURNAL_BEYOND_BOUNDS}`).run(params);
    const prev = this.pruned();
    // Rows spared while their deployment was active may be pruned later, below an id already pruned through.
    const newer = prev === null || found.maxId > prev.throughId;
    const next: JournalPruned = {
      rows: (prev?.rows ?? 0) + found.n,
      throughId: newer ? found.maxId : prev.throughId,
      throughAt: newer ? throughAt : prev.throughAt,
    };
    this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(JOURNAL_PRUNED_KEY, JSON.stringify(next));
  }

  /** The pruned record, or null while nothing was ever pruned. */
  pruned(): JournalPruned | null {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(JOURNAL_PRUNED_KEY) as { value: string } | undefined;
    if (!row) return null;
    const v = JSON.parse(row.value) as Partial<JournalPruned>;
    return { rows: Number(v.rows ?? 0), throughId: Number(v.throughId ?? 0), throughAt: Number(v.throughAt ?? 0) };
  }

  /** The time of the oldest row still kept, or null for an empty journal. */
  oldestAt(): number | null {
    const row = this.db.prepare('SELECT at FROM journal ORDER BY id LIMIT 1').get() as { at: number } | undefined;
    return row?.at ?? null;
  }

  /** The newest kept row of `event`'s time (read backwards along the id key: frequent events are found at once). */
  lastAt(event: string): number | null {
    const row = this.db.prepare('SELECT at FROM journal WHERE event = ? ORDER BY id DESC LIMIT 1').get(event) as { at: number } | undefined;
    return row?.at ?? null;
  }

  history(limit = 200, deploymentId?: number): JournalEntry[] {
    const rows = (deploymentId === undefined
      ? this.db.prepare('SELECT * FROM journal ORDER BY id DESC LIMIT ?').all(limit)
      : this.db.prepare('SELECT * FROM journal WHERE deployment_id = ? ORDER BY id DESC LIMIT ?').all(deploymentId, limit)) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: r['id'] as number,
      at: r['at'] as number,
      deploymentId: r['deployment_id'] as number | null,
      event: r['event'] as string,
      phaseFrom: r['phase_from'] as string | null,
      phaseTo: r['phase_to'] as string | null,
      data: r['data'] === null ? null : JSON.parse(r['data'] as string),
    }));
  }
}
