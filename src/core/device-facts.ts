// What is true about the device right now: booted and committed image versions, free space. Read, never cached.
import { readFileSync, statfsSync, existsSync } from 'node:fs';
import type { Config } from '../config.js';
import type { Store } from '../state/store.js';
import { SWITCH_PHASES } from './phases.js';

/** Version named by `<param>=/…/<version>.img` on a kernel command line; null when absent. Pure. */
export function bootedVersionFromCmdline(cmdline: string, param: string): number | null {
  for (const word of cmdline.trim().split(/\s+/)) {
    if (!word.startsWith(`${param}=`)) continue;
    const m = /(?:^|\/)(\d+)\.img$/.exec(word.slice(param.length + 1));
    if (m) return Number(m[1]);
  }
  return null;
}

export function readBootedVersion(cfg: Config): number | null {
  if (!existsSync(cfg.boot.cmdlineFile)) return null;
  return bootedVersionFromCmdline(readFileSync(cfg.boot.cmdlineFile, 'utf8'), cfg.boot.imageParam);
}

/**
 * The committed image: recorded by the switch (before it arms the first trial, then at each commit); before any
 * switch, the image the device booted. A state file from an agent that recorded it only at a commit may be mid-trial,
 * and then the booted image is the trial: the fallback is the one its switch started from.
 */
export function readCommittedVersion(store: Store, cfg: Config): number | null {
  const v = store.committedVersion();
  if (v !== null) return v;
  const booted = readBootedVersion(cfg);
  const active = store.active();
  if (!active || !SWITCH_PHASES.has(active.phase) || booted !== active.version) return booted;
  const start = store.history(1000, active.id).find((e) => e.event === 'switch:start')?.data as { committed?: unknown } | undefined;
  return typeof start?.committed === 'number' ? start.committed : null;
}

export function freeBytes(path: string): number {
  try {
    const s = statfsSync(path);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return 0;
  }
}
