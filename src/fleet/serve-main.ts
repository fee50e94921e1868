// Wires `upgradectl serve` from server.json: the store (SQLite or PostgreSQL), the zfs diff builder, the delegate key, the HTTPS front.
import { mkdirSync } from 'node:fs';
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

/** Starts the server; `builder` and `store` replace the real ones (tests), `now` the clock. */
export async function openServe(cfg: ServeConfig, log: Logger, over: { builder?: DiffBuilder | null; store?: FleetStore; now?: () => number } = {}): Promise<ServeHandle> {
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
  const http = await startServe(cfg, service, log);
  return {
    ...http,
    service,
    close: async () => {
      await http.close();
      await store.close();
    },
  };
}
