// `upgradectl fleet status`: the fleet by version and phase, rollouts' progress, failing and silent devices. Pure.
import type { DeviceRow, RolloutRow } from './fleet-store.js';
import { inCohort, rolloutHealth } from './rollout.js';

export interface FleetStatus {
  schema: 1;
  at: string;
  devices: number;
  /** committed version → phase of the current or last deployment ('idle' without one) → count. */
  byVersion: Record<string, Record<string, number>>;
  rollouts: (RolloutRow & { cohort: number; reporting: number; committed: number; failed: number })[];
  failing: { id: string; version: number | null; phase: string | null; code: string | null; lastSeen: string }[];
  silent: { id: string; lastSeen: string; intervals: number }[];
  diffs: { built: number; bytes: number; queued: number; answered202: number; buildsFailed: number };
}

export function fleetStatus(
  devices: readonly DeviceRow[], rollouts: readonly RolloutRow[], nowMs: number, silentIntervals: number,
  diffs: FleetStatus['diffs'],
): FleetStatus {
  const byVersion: FleetStatus['byVersion'] = {};
  for (const d of devices) {
    const v = String(d.committedVersion ?? 'none');
    const phase = d.deploymentPhase ?? 'idle';
    const row = (byVersion[v] ??= {});
    row[phase] = (row[phase] ?? 0) + 1;
  }
  const iso = (ms: number): string => new Date(ms).toISOString();
  return {
    schema: 1,
    at: iso(nowMs),
    devices: devices.length,
    byVersion,
    rollouts: rollouts.map((r) => ({
      ...r,
      cohort: devices.filter((d) => d.channel === r.channel && d.hardware === r.hardware && inCohort(d.id, r)).length,
      ...rolloutHealth(r, devices),
    })),
    failing: devices
      .filter((d) => d.deploymentPhase === 'failed' || d.deploymentPhase === 'rolled_back' || d.errorCode !== null)
      .map((d) => ({ id: d.id, version: d.deploymentVersion, phase: d.deploymentPhase, code: d.errorCode, lastSeen: iso(d.lastSeen) })),
    silent: devices
      .map((d) => ({ d, intervals: (nowMs - d.lastSeen) / (d.intervalSec * 1000) }))
      .filter(({ intervals }) => intervals > silentIntervals)
      .map(({ d, intervals }) => ({ id: d.id, lastSeen: iso(d.lastSeen), intervals: Math.floor(intervals) })),
    diffs,
  };
}

/** The text form. */
export function renderFleetStatus(s: FleetStatus): string {
  const lines = [`fleet: ${s.devices} device(s) at ${s.at}`, '', 'devices by committed version and phase:'];
  for (const [v, phases] of Object.entries(s.byVersion).sort()) {
    lines.push(`  ${v.padStart(6)}  ${Object.entries(phases).map(([p, n]) => `${p} ${n}`).join(', ')}`);
  }
  lines.push('', 'rollouts:');
  if (s.rollouts.length === 0) lines.push('  (none)');
  for (const r of s.rollouts) {
    lines.push(`  #${r.id} ${r.channel}/${r.hardware} v${r.version}: ${r.state}${r.pausedReason ? ` (${r.pausedReason})` : ''}, ${r.percent}% (${r.cohort} in cohort), ` +
      `${r.reporting} reporting, ${r.committed} committed, ${r.failed} failed${r.stepPercent > 0 ? `; +${r.stepPercent}% every ${r.everySec}s` : ''}`);
  }
  lines.push('', `failing (${s.failing.length}):`);
  for (const f of s.failing) lines.push(`  ${f.id}  v${f.version ?? '-'} ${f.phase ?? '-'}  ${f.code ?? '-'}  last seen ${f.lastSeen}`);
  lines.push('', `silent (${s.silent.length}):`);
  for (const f of s.silent) lines.push(`  ${f.id}  last seen ${f.lastSeen} (${f.intervals} intervals)`);
  lines.push('', `diffs: ${s.diffs.built} built (${s.diffs.bytes} bytes), ${s.diffs.queued} queued, ${s.diffs.answered202} answered 202, ${s.diffs.buildsFailed} builds failed`);
  return lines.join('\n');
}
