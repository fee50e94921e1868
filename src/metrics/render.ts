// Prometheus text exposition (node_exporter textfile collector) of the agent's state: a pure renderer.
import { PHASES, type Phase } from '../core/phases.js';

/** What the textfile reports; null: not known (no deployment yet, no check-in yet, not booted from an image). */
export interface MetricsState {
  /** The newest deployment (the active one, else the last one). */
  deployment: null | {
    version: number;
    phase: Phase;
    lastErrorCode: string | null;
    downloadedBytes: number;
    streamSize: number | null;
  };
  bootedVersion: number | null;
  committedVersion: number | null;
  /** Epoch ms of the last answered check-in. */
  lastCheckinAt: number | null;
}

export const METRIC_PREFIX = 'upgrade_agent_';

/** Label values: backslash, double quote and line feed escaped, as the exposition format requires. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text: backslash and line feed escaped (quotes are literal there). */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

interface Family {
  name: string;
  help: string;
  samples: { labels?: Record<string, string>; value: number }[];
}

const sample = (value: number | null | undefined): Family['samples'] => (value === null || value === undefined ? [] : [{ value }]);

function families(s: MetricsState): Family[] {
  const d = s.deployment;
  return [
    {
      name: 'phase', help: 'Phase of the newest deployment: 1 for its phase, 0 for the others (all 0 before the first deployment).',
      samples: PHASES.map((p) => ({ labels: { phase: p }, value: d?.phase === p ? 1 : 0 })),
    },
    { name: 'target_version', help: 'Version the newest deployment upgrades to.', samples: sample(d?.version) },
    { name: 'booted_version', help: 'Version of the image the device booted.', samples: sample(s.bootedVersion) },
    { name: 'committed_version', help: 'Version of the committed image (the fallback).', samples: sample(s.committedVersion) },
    {
      name: 'last_error', help: 'The newest deployment\'s last error code, as a label with value 1 (no sample while it has none).',
      samples: d?.lastErrorCode ? [{ labels: { code: d.lastErrorCode }, value: 1 }] : [],
    },
    { name: 'download_bytes', help: 'Bytes of the newest deployment\'s stream downloaded, as last recorded (fsynced).', samples: sample(d ? d.downloadedBytes : null) },
    { name: 'download_size_bytes', help: 'Signed size of the newest deployment\'s stream.', samples: sample(d?.streamSize) },
    {
      name: 'last_checkin_timestamp_seconds', help: 'Unix time of the last answered check-in.',
      samples: sample(s.lastCheckinAt === null ? null : s.lastCheckinAt / 1000),
    },
  ];
}

/** Every family gets its HELP and TYPE (all gauges), names prefixed `upgrade_agent_`; ends with a newline. */
export function renderMetrics(s: MetricsState): string {
  const out: string[] = [];
  for (const f of families(s)) {
    const name = `${METRIC_PREFIX}${f.name}`;
    out.push(`# HELP ${name} ${escapeHelp(f.help)}`, `# TYPE ${name} gauge`);
    for (const x of f.samples) {
      const labels = x.labels ? `{${Object.entries(x.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
      out.push(`${name}${labels} ${x.value}`);
    }
  }
  return `${out.join('\n')}\n`;
}
