// The store server.json's `database` names: a SQLite file, or a PostgreSQL database shared by several instances.
import type { Logger } from '../log.js';
import type { FleetStore } from './fleet-store.js';
import { PgFleetStore, redactUrl } from './pg-store.js';
import { isPostgresUrl } from './serve-config.js';
import { SqliteFleetStore } from './sqlite-store.js';

export async function openFleetStore(database: string, log: Logger): Promise<FleetStore> {
  if (!isPostgresUrl(database)) return new SqliteFleetStore(database);
  const store = await PgFleetStore.open(database, { onPoolError: (err) => log.warn({ database: redactUrl(database), err: err.message }, 'fleet database connection lost') });
  log.info({ database: redactUrl(database) }, 'fleet database: PostgreSQL');
  return store;
}
