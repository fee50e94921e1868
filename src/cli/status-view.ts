// Pure views for `status` and `history`: one JSON shape (with a schema version) and its human rendering.
import type { Deployment, JournalEntry, JournalPruned } from '../state/store.js';

export const STATUS_SCHEMA = 1;

export interface StatusView {
  schema: number;
  device: { id: string; hardware: string; channel: string };
  bootedVersion: number | null;
  committedVersion: number | null;
  /** Image armed as the one-shot trial in grubenv (null when none). */
  trialVersion: number | null;
  floors: { version: number | null; issued: string | null };
  deployment: null | {
    id: number;
    version: number;
    label: string;
    phase: string;
    stream: { from: number | null; size: number | null; downloadedBytes: number } | null;
    lastError: { code: string; message: string } | null;
    nextAttemptAt: string | null;
    resumes: number;
    updatedAt: string;
  };
  images: { version: number; path: string; size: number }[];
  /** The maintenance window: open now, or when it opens next. */
  window: { cron: string; durationMin: number; open: boolean; opensAt: string; closesAt: string };
  daemon: { running: boolean };
}

/** Every `--json` document carries `schema` (an answer relayed from the daemon included). */
export function withSchema(body: unknown): object {
  return { schema: STATUS_SCHEMA, ...(body !== null && typeof body === 'object' && !Array.isArray(body) ? body : { result: body }) };
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function deploymentView(d: Deployment): NonNullable<StatusView['deployment']> {
  return {
    id: d.id,
    version: d.version,
    label: d.label,
    phase: d.phase,
    stream: d.streamSize === null ? null : { from: d.streamFrom, size: d.streamSize, downloadedBytes: d.downloadedBytes },
    lastError: d.reasonCode ? { code: d.reasonCode, message: d.reason ?? '' } : null,
    nextAttemptAt: iso(d.nextAttemptAt),
    resumes: d.resumes,
    updatedAt: iso(d.updatedAt) as string,
  };
}

export function renderStatus(v: StatusView): string {
  const lines = [
    `device     ${v.device.id} (${v.device.hardware}, ${v.device.channel})`,
    `booted     ${v.bootedVersion ?? '-'}`,
    `committed  ${v.committedVersion ?? '-'}`,
    `trial      ${v.trialVersion ?? '-'}`,
    `daemon     ${v.daemon.running ? 'running' : 'not running'}`,
    `window     ${v.window.cron} for ${v.window.durationMin} min: ${v.window.open ? `open until ${v.window.closesAt}` : `opens ${v.window.opensAt}`}`,
  ];
  const d = v.deployment;
  if (d) {
    const pct = d.stream?.size ? ` ${Math.floor((100 * d.stream.downloadedBytes) / d.stream.size)}% of ${d.stream.size} B` : '';
    lines.push(`deployment #${d.id} -> ${d.version} (${d.label}): ${d.phase}${d.phase === 'downloading' ? pct : ''}`);
    if (d.stream) lines.push(`  stream   ${d.stream.from === null ? 'full' : `delta from ${d.stream.from}`}`);
    if (d.lastError) lines.push(`  error    ${d.lastError.code}: ${d.lastError.message}`);
    if (d.nextAttemptAt) lines.push(`  next     ${d.nextAttemptAt}`);
  } else {
    lines.push('deployment none');
  }
  lines.push(`images     ${v.images.map((i) => i.version).join(', ') || '-'}`);
  return lines.join('\n');
}

/** What `history` says about the rows retention removed: the pruned record and the oldest row still kept. */
export interface PrunedNote extends JournalPruned {
  oldestKeptAt: number | null;
}

export function historyView(entries: JournalEntry[], pruned: PrunedNote | null = null): object {
  return {
    schema: STATUS_SCHEMA,
    entries: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
    pruned: pruned && { ...pruned, throughAt: iso(pruned.throughAt), oldestKeptAt: iso(pruned.oldestKeptAt) },
  };
}

/** The line before the entries once retention removed older rows. */
export function prunedLine(p: PrunedNote): string {
  return `(${p.rows} older journal rows pruned, through #${p.throughId}; oldest kept from ${iso(p.oldestKeptAt) ?? '-'})`;
}

export function renderHistory(entries: JournalEntry[], pruned: PrunedNote | null = null): string {
  const lines = entries.map((e) => {
    const edge = e.phaseTo ? ` ${e.phaseFrom ?? '∅'} -> ${e.phaseTo}` : '';
    const data = e.data ? ` ${JSON.stringify(e.data)}` : '';
    return `${new Date(e.at).toISOString()} #${e.deploymentId ?? '-'} ${e.event}${edge}${data}`;
  });
  return (pruned ? [prunedLine(pruned), ...lines] : lines).join('\n');
}
