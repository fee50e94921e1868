// The metrics textfile (config metrics.textfile): rewritten atomically from the Store after each change it reports.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Store } from '../state/store.js';
import { readCommittedVersion } from '../core/device-facts.js';
import { KernelBootInfo, type BootInfo } from '../adapters/boot.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { renderMetrics, type MetricsState } from './render.js';

/** The state the textfile shows, read from the store and the device (nothing cached: another process may have written). */
export function metricsState(store: Store, boot: BootInfo): MetricsState {
  const d = store.active() ?? store.list(1)[0] ?? null;
  return {
    deployment: d && {
      version: d.version, phase: d.phase, lastErrorCode: d.reasonCode, downloadedBytes: d.downloadedBytes, streamSize: d.streamSize,
    },
    bootedVersion: boot.bootedVersion(),
    committedVersion: readCommittedVersion(store, boot.bootedVersion()),
    lastCheckinAt: store.lastEventAt('checked-in'),
  };
}

/**
 * Writes the textfile now and after every committed store write, tmp → fsync → rename → fsync dir (node_exporter reads
 * only `*.prom`, so the dot-named tmp sibling is never collected half-written). A failed write is logged, never thrown:
 * metrics must not stop an upgrade. Returns the unsubscribe.
 */
export function attachMetricsTextfile(
  store: Store, config: Config, log: Logger, boot: BootInfo = new KernelBootInfo(config.boot.cmdlineFile, config.boot.imageParam, config.boot.bootIdFile),
): () => void {
  const path = config.metrics.textfile;
  if (!path) return () => undefined;
  let failing = false;
  const write = (): void => {
    try {
      writeFileAtomic(path, renderMetrics(metricsState(store, boot)));
      if (failing) log.info({ path }, 'metrics textfile written again');
      failing = false;
    } catch (err) {
      // once per failing streak: a full disk would otherwise log at every download checkpoint
      if (!failing) log.warn({ path, err: (err as Error).message }, 'metrics textfile not written');
      failing = true;
    }
  };
  write();
  return store.subscribe(write);
}
