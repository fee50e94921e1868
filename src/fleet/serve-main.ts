// Wires `upgradectl serve` from server.json: the store (SQLite or PostgreSQL), the zfs diff builder, the delegate key, the HTTPS front.
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { ConfigError, UpgradeError } from '../errors.js';
import { ZfsCli } from '../adapters/zfs.js';
import { loadSecretKey } from '../trust/keys.js';
import type { Logger } from '../log.js';
import { openFleetStore } from './open-store.js';
import type { FleetStore } from './fleet-store.js';
import { DiffBuilds, type DiffBuilder } from './diff-builds.js';
import { zfsDiffBuilder } from './zfs-builder.js';
import { FleetService } from './fleet-service.js';
import { startServe, type RunningServer } from './serve.js';
import type { ServeConfig } from './serve-config.js';

export interface ServeHandle extends RunningServer {
  service: FleetService;
}

/** Refuses, before anything starts, a config whose files are not there: E_CONFIG_READ naming the key and the path. */
export function checkServeFiles(cfg: ServeConfig): void {
  const files: [string, string | null][] = [
    ['tls.certFile', cfg.tls.certFile], ['tls.keyFile', cfg.tls.keyFile], ['adminTokenFile', cfg.adminTokenFile], ['diffs.delegateKeyFile', cfg.diffs.delegateKeyFile],
  ];
  for (const [key, path] of files) {
    if (path === null) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch (err) {
      throw new ConfigError('E_CONFIG_READ', `config ${key}: cannot read ${path}: ${(err as Error).message}`, { cause: err, context: { key, path } });
    }
  }
  let dir = false;
  try {
    dir = statSync(cfg.publishDir).isDirectory();
  } catch {
    dir = false;
  }
  if (!dir) throw new ConfigError('E_CONFIG_READ', `config publishDir: ${cfg.publishDir} is not a directory (what upgradectl publish --out wrote)`, { context: { key: 'publishDir', path: cfg.publishDir } });
}

/** Starts the server; `builder` and `store` replace the real ones (tests), `now` the clock. */
export async function openServe(cfg: ServeConfig, log: Logger, over: { builder?: DiffBuilder | null; store?: FleetStore; now?: () => number } = {}): Promise<ServeHandle> {
  checkServeFiles(cfg);
  mkdirSync(cfg.diffs.dir, { recursive: true });
  const now = over.now ?? Date.now;
  const store = over.store ?? (await openFleetStore(cfg.database, log));
  const builder = over.builder !== undefined ? over.builder : cfg.diffs.dataset === null ? null : zfsDiffBuilder(new ZfsCli({ busyTimeoutSec: 30, log }), cfg.diffs.dataset, cfg.diffs.compression);
  const delegate = cfg.diffs.delegateKeyFile === null ? null : loadSecretKey(cfg.diffs.delegateKeyFile);
  let service: FleetService | null = null;
  const builds = new DiffBuilds({
    store, builder, dir: cfg.diffs.dir,
    fileName: (from, to) => `${from}-${to}.zfs${cfg.diffs.compression === 'xz' ? '.xz' : ''}`,
    concurrency: cfg.diffs.concurrency, maxQueue: cfg.diffs.maxQueue, timeoutMs: cfg.diffs.timeoutSec * 1000,
    failedRetryMs: cfg.diffs.failedRetrySec * 1000, now, log,
    built: async () => void (await service?.housekeeping()),
  });
  service = new FleetService(cfg, store, builds, delegate, now, log);
  let http: RunningServer;
  try {
    http = await startServe(cfg, service, log);
  } catch (err) {
    await store.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new UpgradeError('E_SERVE_LISTEN', `cannot listen on ${cfg.listen.host}:${cfg.listen.port}: ${(err as Error).message}`, { cause: err, context: { host: cfg.listen.host, port: cfg.listen.port } });
    }
    throw err;
  }
  return {
    ...http,
    service,
    close: async () => {
      await http.close();
      await builds.stop();
      await store.close();
    },
  };
}
