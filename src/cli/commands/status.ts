// `status`, `history`, `images`: read the state database read-only, so they work with the daemon down.
import type { Config } from '../../config.js';
import { openStateDbReadOnly } from '../../state/db.js';
import { Store, type JournalEntry } from '../../state/store.js';
import { readCommittedVersion } from '../../core/device-facts.js';
import { KernelBootInfo } from '../../adapters/boot.js';
import { deploymentView, historyView, renderHistory, renderStatus, STATUS_SCHEMA, withSchema, type PrunedNote, type StatusView } from '../status-view.js';
import { daemonRunning } from '../../daemon/control.js';
import { listImages } from '../../util/images-dir.js';
import { readTrial } from '../../boot/grubenv.js';
import { windowAt } from '../../core/window.js';

function windowView(config: Config, now: Date): StatusView['window'] {
  const w = config.window;
  const state = windowAt({ cron: w.cron, durationMin: w.durationMin, timezone: w.timezone }, now);
  return { cron: w.cron, durationMin: w.durationMin, open: state.open, opensAt: state.opensAt.toISOString(), closesAt: state.closesAt.toISOString() };
}

export async function statusView(config: Config): Promise<StatusView> {
  const db = openStateDbReadOnly(config.paths.stateDir);
  try {
    const store = db ? new Store(db) : null;
    const active = store?.active() ?? store?.list(1)[0] ?? null;
    const fv = store?.getFloor('version') ?? null;
    const booted = new KernelBootInfo(config.boot.cmdlineFile, config.boot.imageParam, config.boot.bootIdFile).bootedVersion();
    return {
      schema: STATUS_SCHEMA,
      device: { id: config.deviceId, hardware: config.hardware, channel: config.channel },
      bootedVersion: booted,
      committedVersion: store ? readCommittedVersion(store, booted) : booted,
      trialVersion: readTrial(config.paths.grubDir),
      floors: { version: fv === null ? null : Number(fv), issued: store?.getFloor('issued') ?? null },
      deployment: active ? deploymentView(active) : null,
      images: listImages(config.paths.imagesDir),
      window: windowView(config, new Date()),
      daemon: { running: await daemonRunning(config.paths.socket) },
    };
  } finally {
    db?.close();
  }
}

export async function statusCommand(config: Config, json: boolean): Promise<string> {
  const v = await statusView(config);
  return json ? JSON.stringify(v, null, 2) : renderStatus(v);
}

export function historyCommand(config: Config, json: boolean): string {
  const db = openStateDbReadOnly(config.paths.stateDir);
  let entries: JournalEntry[] = [];
  let pruned: PrunedNote | null = null;
  if (db) {
    try {
      const store = new Store(db);
      entries = store.history(500).reverse();
      const p = store.journalPruned();
      pruned = p && { ...p, oldestKeptAt: store.journalOldestAt() };
    } finally {
      db.close();
    }
  }
  return json ? JSON.stringify(historyView(entries, pruned), null, 2) : renderHistory(entries, pruned);
}

export function imagesCommand(config: Config, json: boolean): string {
  const images = listImages(config.paths.imagesDir);
  if (json) return JSON.stringify(withSchema({ images }), null, 2);
  return images.map((i) => `${i.version}\t${i.size}\t${i.path}`).join('\n');
}
