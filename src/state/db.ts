// SQLite state outside the images: WAL + synchronous=FULL, additive-only migrations so older agents still read it.
import Database from 'better-sqlite3';
import { accessSync, chmodSync, closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { StateError, isPermissionDenied } from '../errors.js';

export type Db = Database.Database;

/**
 * Migrations only ever add tables or columns: an older agent (after a fallback) opens the same file and must
 * still understand every row it knows how to read. Never rename, drop or repurpose.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE deployments (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     version INTEGER NOT NULL,
     label TEXT NOT NULL,
     manifest_url TEXT,
     envelope BLOB NOT NULL,
     payload_sha256 TEXT NOT NULL,
     phase TEXT NOT NULL,
     reason_code TEXT,
     reason TEXT,
     stream_from INTEGER,
     stream_size INTEGER,
     stream_sha256 TEXT,
     compression TEXT,
     image_size INTEGER NOT NULL,
     image_sha256 TEXT NOT NULL,
     download_url TEXT,
     download_validator TEXT,
     downloaded_bytes INTEGER NOT NULL DEFAULT 0,
     resumes INTEGER NOT NULL DEFAULT 0,
     failures INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   )`,
  `CREATE TABLE journal (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     deployment_id INTEGER,
     event TEXT NOT NULL,
     phase_from TEXT,
     phase_to TEXT,
     data TEXT
   )`,
  `CREATE TABLE floors (name TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE INDEX journal_by_deployment ON journal(deployment_id, id)`,
  // The switch: boot id when a switch phase was written (did a reboot happen since?), postponements, ready time.
  `ALTER TABLE deployments ADD COLUMN boot_id TEXT`,
  `ALTER TABLE deployments ADD COLUMN postponements INTEGER NOT NULL DEFAULT 0`,
  `ALTER TABLE deployments ADD COLUMN ready_at INTEGER`,
  // Consecutive "come back later" answers (retry.maxDeferrals): they are not failures, but they are not free either.
  `ALTER TABLE deployments ADD COLUMN deferrals INTEGER NOT NULL DEFAULT 0`,
  // Journal retention: the prune by age at every append reads this range instead of scanning the table.
  `CREATE INDEX journal_by_at ON journal(at)`,
  // Confirm attempts of a trial, counted before its health checks run: the bound on boots into an unconfirmed trial.
  `ALTER TABLE deployments ADD COLUMN confirm_attempts INTEGER NOT NULL DEFAULT 0`,
  // An on-demand diff (not in the manifest): its verified mirrors as a JSON list; null for a manifest-listed stream.
  `ALTER TABLE deployments ADD COLUMN stream_urls TEXT`,
];

export function stateDbPath(stateDir: string): string {
  return join(stateDir, 'state.db');
}

function permissionDenied(stateDir: string, err: unknown): StateError {
  return new StateError('E_PERMISSION', `cannot access the state in ${stateDir}: permission denied (this verb needs root)`, {
    cause: err, context: { stateDir },
  });
}

/** Whether this user is refused `mode` on `path` (SQLite's own errors do not say EACCES). */
function denied(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return false;
  } catch (err) {
    return isPermissionDenied(err);
  }
}

/**
 * The database and its -wal/-shm are root's alone (0600): created so (SQLite gives -wal and -shm the database file's
 * mode) and made so when an older agent left them world-readable.
 */
function restrictFiles(path: string, when: 'before' | 'after'): void {
  if (when === 'before') closeSync(openSync(path, 'a', 0o600));
  for (const p of when === 'before' ? [path] : [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if ((statSync(p).mode & 0o777) !== 0o600) chmodSync(p, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** Opens (and migrates) the state database read-write; the state dir is created 0700, the files 0600. */
export function openStateDb(stateDir: string): Db {
  const path = stateDbPath(stateDir);
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    restrictFiles(path, 'before');
  } catch (err) {
    if (isPermissionDenied(err)) throw permissionDenied(stateDir, err);
    throw new StateError('E_STATE_DB', `cannot create the state database in ${stateDir}: ${(err as Error).message}`, { cause: err });
  }
  let db: Db;
  try {
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    restrictFiles(path, 'after');
  } catch (err) {
    if (isPermissionDenied(err) || denied(path, constants.R_OK | constants.W_OK)) throw permissionDenied(stateDir, err);
    throw new StateError('E_STATE_DB', `cannot open state database in ${stateDir}: ${(err as Error).message}`, { cause: err });
  }
  return db;
}

/** Opens the state database read-only (status with the daemon down); null when there is none yet. */
export function openStateDbReadOnly(stateDir: string): Db | null {
  const path = stateDbPath(stateDir);
  try {
    statSync(path);
  } catch (err) {
    // (existsSync would say "no state" to a user who may not look: status would show nothing instead of the error.)
    if (isPermissionDenied(err)) throw permissionDenied(stateDir, err);
    return null;
  }
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    // A file whose first migration has not committed yet (the agent is creating it right now) holds no state.
    if ((db.pragma('user_version', { simple: true }) as number) === 0) {
      db.close();
      return null;
    }
    return db;
  } catch (err) {
    if (denied(path, constants.R_OK)) throw permissionDenied(stateDir, err);
    throw new StateError('E_STATE_DB', `cannot read state database in ${stateDir}: ${(err as Error).message}`, { cause: err });
  }
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    const sql = MIGRATIONS[v] as string;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

export const SCHEMA_VERSION = MIGRATIONS.length;
