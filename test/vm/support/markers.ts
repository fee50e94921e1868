// Reading a boot's markers: the reporter's status, history and phase lines, and timings between boots.
import type { StatusView } from '../../../src/cli/status-view.js';
import type { NamedBoot } from './vm-device.js';

export interface UpMarker {
  cmdline: string;
  bootId: string;
  uptimeSec: number;
  image: string | null;
  siteConf: string | null;
  /** `/` and `/host` as the system sees them: 'ro' or 'rw' (each mount's own flag). */
  mounts: Record<string, 'ro' | 'rw'>;
}

export function markersOf<T>(b: NamedBoot, kind: string): T[] {
  return b.markers.filter((m) => m.kind === kind).map((m) => m.data as T);
}

export function lastMarker<T>(b: NamedBoot, kind: string): T | undefined {
  return markersOf<T>(b, kind).pop();
}

export function lastStatus(b: NamedBoot): StatusView {
  const s = lastMarker<StatusView>(b, 'status');
  if (!s) throw new Error(`boot ${b.name} reported no status`);
  return s;
}

export function up(b: NamedBoot): UpMarker {
  const u = lastMarker<UpMarker>(b, 'up');
  if (!u) throw new Error(`boot ${b.name} never came up (no reporter marker)`);
  return u;
}

/** The version a boot's kernel command line names (ua.image=/images/<v>.img), from the console. */
export function bootedImage(b: NamedBoot): number | null {
  const m = /ua\.image=\/images\/(\d+)\.img/.exec(b.cmdline ?? '');
  return m ? Number(m[1]) : null;
}

/** Wall time at which the first marker of `kind` (matching `pick`) arrived. */
export function markerTime(b: NamedBoot, kind: string, pick: (d: unknown) => boolean = () => true): number {
  const m = b.markers.find((x) => x.kind === kind && pick(x.data));
  if (!m) throw new Error(`boot ${b.name} has no ${kind} marker`);
  return b.startedAt + m.atMs;
}

interface HistoryView {
  entries: { deploymentId: number | null; event: string; phaseTo: string | null; data: unknown }[];
}

function lastHistory(b: NamedBoot): HistoryView {
  const h = lastMarker<HistoryView>(b, 'history');
  if (!h) throw new Error(`boot ${b.name} reported no history`);
  return h;
}

/** The data of every journal entry `event` of a deployment, from the last `history` marker of a boot. */
export function journalEvents<T>(b: NamedBoot, deploymentId: number, event: string): T[] {
  return lastHistory(b).entries.filter((e) => e.deploymentId === deploymentId && e.event === event).map((e) => e.data as T);
}

/** The phase edges the agent journaled for a deployment, from the last `history` marker of a boot. */
export function journalPhases(b: NamedBoot, deploymentId: number): string[] {
  return lastHistory(b).entries.filter((e) => e.deploymentId === deploymentId && e.phaseTo !== null).map((e) => e.phaseTo as string);
}
