// The fleet simulation's figures: per-phase summaries merged over the client processes, and their table.
import type { PhaseStats } from './fleet-sim-client.js';
import type { FleetConfig } from './fleet-sim-case.js';
import { percentile } from './fleet-sim-stats.js';

export interface ClientSummary {
  attempts: number;
  ok: number;
  okPerSec: number;
  peakOkPerSec: number;
  checkinP50Ms: number;
  checkinP99Ms: number;
  checkinMaxMs: number;
  otherP99Ms: number;
  manifestGets: number;
  diffGets: number;
  got202: number;
  devices202: number;
  /** Answers other than 200/202 and the diff's 404 (full stream), plus transport errors. */
  errors: number;
  outcomes: Record<string, number>;
  clientCpuPct: number;
}

export interface PhaseRow {
  name: string;
  wallSec: number;
  simSec: number;
  loadStart: number[];
  loadEnd: number[];
  serverCpuPct: number;
  serverPeakMiB: number;
  pgCpuPct: number | null;
  pgPeakMiB: number | null;
  driverCpuPct: number;
  client: ClientSummary;
}

export interface FleetRun {
  db: 'sqlite' | 'pg';
  config: FleetConfig;
  startedAt: string;
  totalSec: number;
  phases: PhaseRow[];
  /** Distinct devices served at least one 202 over the whole day. */
  devices202: number;
  /** Wall seconds into the herd phase at which each device's first successful check-in came, ascending. */
  herdOkSec: number[];
  serverStatus: Record<string, unknown>;
}

const OK = /^(checkin 200|manifest 200|diff 200|diff 202|diff 404)$/;

/** Sums the clients' stats of one phase. Pure. */
export function mergePhase(parts: PhaseStats[], wallSec: number): ClientSummary {
  const lat = parts.flatMap((p) => p.checkinMs).sort((a, b) => a - b);
  const other = parts.flatMap((p) => p.otherMs).sort((a, b) => a - b);
  const perSec: number[] = [];
  for (const p of parts) p.okPerSec.forEach((v, i) => (perSec[i] = (perSec[i] ?? 0) + (v ?? 0)));
  const outcomes: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
  const sum = (f: (p: PhaseStats) => number): number => parts.reduce((a, p) => a + f(p), 0);
  const ok = sum((p) => p.checkinOk);
  return {
    attempts: sum((p) => p.checkins), ok, okPerSec: wallSec > 0 ? ok / wallSec : 0, peakOkPerSec: Math.max(0, ...perSec.map((v) => v ?? 0)),
    checkinP50Ms: percentile(lat, 50), checkinP99Ms: percentile(lat, 99), checkinMaxMs: lat.at(-1) ?? Number.NaN, otherP99Ms: percentile(other, 99),
    manifestGets: sum((p) => p.manifestGets), diffGets: sum((p) => p.diffGets), got202: sum((p) => p.got202), devices202: sum((p) => p.devices202),
    errors: Object.entries(outcomes).filter(([k]) => !OK.test(k)).reduce((a, [, v]) => a + v, 0), outcomes,
    clientCpuPct: wallSec > 0 ? sum((p) => p.cpuMs) / 10 / wallSec : 0,
  };
}

const f = (n: number | null, d = 0): string => (n === null || Number.isNaN(n) ? '–' : n.toFixed(d));

export function renderFleet(r: FleetRun): string {
  const c = r.config;
  const out = [
    `fleet simulation on ${r.db === 'pg' ? 'PostgreSQL' : 'SQLite'}, ${r.startedAt}: ${c.devices} devices in ${c.clients} client process(es), ${c.connections} keep-alive connections each, time ×${c.speedup}; whole run ${f(r.totalSec)} s`,
    '',
    '| phase | wall s | check-ins ok/s (peak 1 s) | check-in p50 / p99 / max ms | manifest + diff GETs (p99 ms) | 202s (devices) | errors | server CPU % / RSS peak MiB | PostgreSQL CPU % / RSS MiB | clients CPU % | load avg start → end |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const p of r.phases) {
    const k = p.client;
    out.push(`| ${p.name} | ${f(p.wallSec)} | ${f(k.okPerSec)} (${f(k.peakOkPerSec)}) | ${f(k.checkinP50Ms, 1)} / ${f(k.checkinP99Ms, 1)} / ${f(k.checkinMaxMs)} | ${k.manifestGets} + ${k.diffGets} (${f(k.otherP99Ms, 1)}) | ${k.got202} (${k.devices202}) | ${k.errors} | ${f(p.serverCpuPct)} / ${f(p.serverPeakMiB)} | ${p.pgCpuPct === null ? '–' : `${f(p.pgCpuPct)} / ${f(p.pgPeakMiB)}`} | ${f(k.clientCpuPct)} | ${p.loadStart.map((x) => x.toFixed(2)).join(' ')} → ${p.loadEnd.map((x) => x.toFixed(2)).join(' ')} |`);
  }
  const h = r.herdOkSec;
  const at = (q: number): string => f(h.length === 0 ? null : (h[Math.max(0, Math.ceil((q / 100) * h.length) - 1)] ?? null), 1);
  out.push('', `devices served a 202 over the day: ${r.devices202}; after the restart ${h.length} of ${c.devices} devices checked in within the herd phase (50% by ${at(50)} s, 99% by ${at(99)} s, last at ${at(100)} s wall)`);
  for (const p of r.phases) out.push(`  ${p.name} outcomes: ${Object.entries(p.client.outcomes).sort().map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  out.push(`  server status at the end: ${JSON.stringify(r.serverStatus)}`);
  return out.join('\n');
}
