// Staged rollouts, decided on check-in: pure functions of the device, the rollouts, pins and holds, and the clock.
import { createHash } from 'node:crypto';
import type { DeploymentCount, DeviceRow, RolloutRow } from './fleet-store.js';

/** The device's place in a release's cohort order, 0 ≤ bucket < 10000: stable, and independent across releases. */
export function bucketOf(deviceId: string, version: number): number {
  return createHash('sha256').update(`${version}\0${deviceId}`).digest().readUInt32BE(0) % 10_000;
}

/** Whether the rollout's percentage includes the device: widening only ever adds devices. */
export function inCohort(deviceId: string, r: Pick<RolloutRow, 'version' | 'percent'>): boolean {
  return bucketOf(deviceId, r.version) < Math.round(r.percent * 100);
}

export type DeviceFacts = Pick<DeviceRow, 'id' | 'hardware' | 'channel' | 'committedVersion' | 'deploymentVersion'>;

export type TargetReason = 'pinned' | 'pinned-stay' | 'rollout' | 'in-progress' | 'none';

export interface TargetDecision {
  version: number | null;
  reason: TargetReason;
  rolloutId?: number;
}

/**
 * What the device is offered. A pin wins (a version, or null: stay). Otherwise the newest rollout of its channel
 * and hardware that is not held and that includes it: active and in its cohort, or (active or paused) already
 * deployed or installed on it, so a pause stops new devices but never strands one mid-way. Nothing at or below the
 * committed version is offered.
 */
export function decideTarget(d: DeviceFacts, rollouts: readonly RolloutRow[], pins: ReadonlyMap<string, number | null>, holds: ReadonlySet<number>): TargetDecision {
  if (pins.has(d.id)) {
    const v = pins.get(d.id) ?? null;
    return v === null || (d.committedVersion !== null && v <= d.committedVersion) ? { version: null, reason: 'pinned-stay' } : { version: v, reason: 'pinned' };
  }
  const mine = rollouts.filter((r) => r.channel === d.channel && r.hardware === d.hardware && !holds.has(r.version)).sort((a, b) => b.version - a.version);
  for (const r of mine) {
    if (d.committedVersion !== null && r.version <= d.committedVersion) break;
    if (d.deploymentVersion === r.version) return { version: r.version, reason: 'in-progress', rolloutId: r.id };
    if (r.state === 'active' && inCohort(d.id, r)) return { version: r.version, reason: 'rollout', rolloutId: r.id };
  }
  return { version: null, reason: 'none' };
}

export interface RolloutHealth {
  /** Devices of the rollout's channel and hardware that report a deployment of its version. */
  reporting: number;
  failed: number;
  committed: number;
}

const FAILED = new Set(['failed', 'rolled_back']);

export function rolloutHealth(r: Pick<RolloutRow, 'channel' | 'hardware' | 'version'>, devices: readonly DeviceRow[]): RolloutHealth {
  const h: RolloutHealth = { reporting: 0, failed: 0, committed: 0 };
  for (const d of devices) {
    if (d.channel !== r.channel || d.hardware !== r.hardware || d.deploymentVersion !== r.version) continue;
    h.reporting++;
    if (FAILED.has(d.deploymentPhase ?? '')) h.failed++;
    else if (d.deploymentPhase === 'committed') h.committed++;
  }
  return h;
}

/** What the stores' deploymentCounts() aggregate computes, from the rows: one entry per reported (channel, hardware, version). */
export function deploymentCounts(devices: readonly DeviceRow[]): DeploymentCount[] {
  const out = new Map<string, DeploymentCount>();
  for (const d of devices) {
    if (d.deploymentVersion === null) continue;
    const key = JSON.stringify([d.channel, d.hardware, d.deploymentVersion]);
    let c = out.get(key);
    if (!c) out.set(key, (c = { channel: d.channel, hardware: d.hardware, version: d.deploymentVersion, reporting: 0, failed: 0, committed: 0 }));
    const h = rolloutHealth(c, [d]);
    c.reporting += h.reporting;
    c.failed += h.failed;
    c.committed += h.committed;
  }
  return [...out.values()];
}

/** The rollout's health from the aggregate: equal to rolloutHealth(r, devices) when counts = deploymentCounts(devices). */
export function healthOf(r: Pick<RolloutRow, 'channel' | 'hardware' | 'version'>, counts: readonly DeploymentCount[]): RolloutHealth {
  const c = counts.find((x) => x.channel === r.channel && x.hardware === r.hardware && x.version === r.version);
  return c ? { reporting: c.reporting, failed: c.failed, committed: c.committed } : { reporting: 0, failed: 0, committed: 0 };
}

export type RolloutChange = { kind: 'none' } | { kind: 'pause'; reason: string } | { kind: 'widen'; percent: number };

/**
 * What time and the fleet's reports do to an active rollout: pause once the failed share passes the threshold (with
 * at least `minReports` reporting), else widen by its step once `everySec` passed since its last change.
 */
export function rolloutTick(r: RolloutRow, h: RolloutHealth, nowMs: number, policy: { failureThreshold: number; minReports: number }): RolloutChange {
  if (r.state !== 'active') return { kind: 'none' };
  if (h.reporting >= policy.minReports && h.failed / h.reporting > policy.failureThreshold) {
    return { kind: 'pause', reason: `automatic: ${h.failed} of ${h.reporting} devices failed or rolled back (over ${(policy.failureThreshold * 100).toFixed(1)}%)` };
  }
  if (r.stepPercent > 0 && r.everySec > 0 && r.percent < 100 && nowMs >= r.changedAt + r.everySec * 1000) {
    return { kind: 'widen', percent: Math.min(100, Math.round((r.percent + r.stepPercent) * 100) / 100) };
  }
  return { kind: 'none' };
}
