// `upgradectl serve --config server.json`: the fleet server's strict configuration (unknown keys name themselves).
import { readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import { check, int, obj, str, type Spec } from '../util/strict-schema.js';

export interface ServeConfig {
  listen: { host: string; port: number };
  tls: { certFile: string; keyFile: string };
  /** What `upgradectl publish --out` wrote: manifests/, streams/, delegations/. */
  publishDir: string;
  /** The device database: a SQLite file's path, or a postgresql:// URL (several instances share it). */
  database: string;
  /** A file holding the operator's bearer token for /v1/admin (fleet verbs); null: the admin API is off. */
  adminTokenFile: string | null;
  checkinIntervalSec: number;
  diffs: {
    /** Where built diffs go (never inside publishDir: the published streams are never evicted). */
    dir: string;
    /** The image dataset `zfs send -i` builds from; null: no builds, a missing diff is a 404. */
    dataset: string | null;
    /** The online key that signs diff statements (the delegation in delegations/<version>.json names it). */
    delegateKeyFile: string | null;
    compression: 'xz' | 'none';
    concurrency: number;
    maxQueue: number;
    timeoutSec: number;
    /** A failed build is not tried again for this long (devices get the full stream meanwhile). */
    failedRetrySec: number;
    budgetBytes: number;
    /** The newest release's diffs from this many of the most common bases are never evicted. */
    protectBases: number;
  };
  cache: { immutableMaxAgeSec: number; manifestMaxAgeSec: number };
  rollout: { failureThreshold: number; minReports: number };
  /** A device is silent after this many check-in intervals without a check-in (fleet status). */
  silentIntervals: number;
}

const SPEC: Spec = obj({
  listen: obj({ host: str('127.0.0.1'), port: int(8443, 0, 65535) }),
  tls: obj({ certFile: str(), keyFile: str() }),
  publishDir: str(),
  database: str(),
  adminTokenFile: str(undefined, { nullable: true }),
  checkinIntervalSec: int(3600, 1, 7 * 86400),
  diffs: obj({
    dir: str(undefined, { nullable: true }),
    dataset: str(undefined, { nullable: true }),
    delegateKeyFile: str(undefined, { nullable: true }),
    compression: str('xz', { oneOf: ['xz', 'none'] }),
    concurrency: int(1, 1, 64),
    maxQueue: int(16, 1, 10_000),
    timeoutSec: int(3600, 1, 86400),
    failedRetrySec: int(3600, 0, 7 * 86400),
    budgetBytes: int(10 * 1024 ** 3, 0),
    protectBases: int(3, 0, 100),
  }),
  cache: obj({ immutableMaxAgeSec: int(31_536_000, 0), manifestMaxAgeSec: int(60, 0, 86400) }),
  rollout: obj({ failureThreshold: { t: 'num', def: 0.05, min: 0, max: 1 }, minReports: int(5, 1) }),
  silentIntervals: int(3, 1, 1000),
});

/** `database` names PostgreSQL (libpq's URL schemes); anything else is a SQLite file's path. */
export const isPostgresUrl = (database: string): boolean => /^postgres(ql)?:\/\//.test(database);

function checkPostgresUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new ConfigError('E_CONFIG_INVALID', 'config database: not a valid postgresql:// URL', { cause: err, context: { key: 'database' } });
  }
  if (u.pathname.length <= 1 && u.searchParams.get('host') === null) {
    throw new ConfigError('E_CONFIG_INVALID', 'config database: the PostgreSQL URL names no database (postgresql://user@host:5432/fleet)', { context: { key: 'database' } });
  }
}

/** Checks a parsed server.json; relative paths are taken from `baseDir` (the config file's directory). */
export function parseServeConfig(raw: unknown, baseDir = process.cwd()): ServeConfig {
  const c = check(SPEC, raw, '') as ServeConfig & { diffs: { dir: string | null } };
  const abs = (p: string): string => resolve(baseDir, p);
  const pg = isPostgresUrl(c.database);
  if (pg) checkPostgresUrl(c.database);
  if (pg && c.diffs.dir === null) {
    throw new ConfigError('E_CONFIG_INVALID', 'config diffs.dir: required with a PostgreSQL database (a directory every instance shares)', { context: { key: 'diffs.dir' } });
  }
  const out: ServeConfig = {
    ...c,
    tls: { certFile: abs(c.tls.certFile), keyFile: abs(c.tls.keyFile) },
    publishDir: abs(c.publishDir),
    database: pg ? c.database : abs(c.database),
    adminTokenFile: c.adminTokenFile === null ? null : abs(c.adminTokenFile),
    diffs: {
      ...c.diffs,
      dir: abs(c.diffs.dir ?? join(dirname(abs(c.database)), 'diffs')),
      delegateKeyFile: c.diffs.delegateKeyFile === null ? null : abs(c.diffs.delegateKeyFile),
    },
  };
  const rel = out.diffs.dir.startsWith(out.publishDir + '/') || out.diffs.dir === out.publishDir;
  if (rel) throw new ConfigError('E_CONFIG_INVALID', 'config diffs.dir: must be outside publishDir (the published streams are never evicted)', { context: { key: 'diffs.dir' } });
  return out;
}

export function loadServeConfig(path: string): ServeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('E_CONFIG_READ', `cannot read ${path}: ${(err as Error).message}`, { cause: err, context: { path } });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('E_CONFIG_PARSE', `${path} is not valid JSON`, { cause: err, context: { path } });
  }
  return parseServeConfig(raw, dirname(resolve(path)));
}
