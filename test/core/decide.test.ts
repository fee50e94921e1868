// Pure decisions: stream choice, check-in timing, what a new target does, retention.
import { describe, it, expect } from 'vitest';
import { selectStream, nextCheckinDelayMs, decideTarget } from '../../src/core/decide.js';
import { planRetention } from '../../src/core/retention.js';
import { makeManifest } from '../support/manifest-fixture.js';
import { UpgradeError } from '../../src/errors.js';

describe('selectStream', () => {
  const m = makeManifest();
  it('takes the delta from the device base, else the full stream', () => {
    expect(selectStream(m, 1).from).toBe(1);
    expect(selectStream(m, 7).from).toBeNull();
    expect(selectStream(m, null).from).toBeNull();
  });
  it('refuses when neither fits', () => {
    const deltaOnly = makeManifest({ streams: [m.streams[0]!] });
    expect(() => selectStream(deltaOnly, 5)).toThrow(UpgradeError);
    try {
      selectStream(deltaOnly, 5);
    } catch (err) {
      expect((err as UpgradeError).code).toBe('E_MANIFEST_NO_STREAM');
    }
  });
});

describe('nextCheckinDelayMs', () => {
  const s = { intervalSec: 3600, jitterSec: 300, backoffMaxSec: 7200 };
  it('adds jitter to the interval', () => {
    expect(nextCheckinDelayMs(s, 0, null, 0)).toBe(3_600_000);
    expect(nextCheckinDelayMs(s, 0, null, 0.5)).toBe(3_750_000);
  });
  it('backs off exponentially after failures, capped', () => {
    expect(nextCheckinDelayMs(s, 1, null, 0)).toBe(30_000);
    expect(nextCheckinDelayMs(s, 3, null, 0)).toBe(120_000);
    expect(nextCheckinDelayMs(s, 30, null, 0)).toBe(7_200_000);
  });
  it('never comes back before Retry-After', () => {
    expect(nextCheckinDelayMs(s, 1, 600, 0)).toBe(600_000);
  });
});

describe('decideTarget', () => {
  const t = { version: 5, payloadSha256: 'x' };
  it('is up to date at or below the committed version', () => {
    expect(decideTarget(t, 5, null)).toEqual({ kind: 'up-to-date' });
  });
  it('continues the same version, replaces a replaceable one, waits on an armed one', () => {
    expect(decideTarget(t, 3, { id: 9, version: 5, payloadSha256: 'y', phase: 'downloading', replaceable: true })).toEqual({ kind: 'same', deploymentId: 9 });
    expect(decideTarget(t, 3, { id: 9, version: 4, payloadSha256: 'y', phase: 'ready', replaceable: true })).toEqual({ kind: 'start', replaces: 9 });
    expect(decideTarget(t, 3, { id: 9, version: 4, payloadSha256: 'y', phase: 'staged', replaceable: false })).toEqual({ kind: 'busy', deploymentId: 9, phase: 'staged' });
    expect(decideTarget(t, 3, null)).toEqual({ kind: 'start', replaces: null });
    // Ended badly with the same signed payload: not again by itself; a re-published payload starts anew.
    expect(decideTarget(t, 3, null, { id: 7, payloadSha256: 'x', phase: 'failed' })).toEqual({ kind: 'failed-before', deploymentId: 7 });
    expect(decideTarget(t, 3, null, { id: 7, payloadSha256: 'x', phase: 'rolled_back' })).toEqual({ kind: 'rolled-back-before', deploymentId: 7 });
    expect(decideTarget(t, 3, null, { id: 7, payloadSha256: 'older', phase: 'failed' })).toEqual({ kind: 'start', replaces: null });
  });
});

describe('planRetention', () => {
  it('keeps the newest N and every protected image, and the newest snapshot', () => {
    const plan = planRetention({ images: [1, 2, 3, 4, 5], snapshots: [1, 2, 3, 4, 5], keepImages: 2, protectedVersions: [1, null, 5] });
    expect(plan.deleteImages).toEqual([2, 3]);
    expect(plan.destroySnapshots).toEqual([]);
  });
  it('destroys only snapshots older than every kept image, never the base', () => {
    const plan = planRetention({ images: [3, 4], snapshots: [1, 2, 3, 4], keepImages: 2, protectedVersions: [4] });
    expect(plan.deleteImages).toEqual([]);
    expect(plan.destroySnapshots).toEqual([1, 2]);
    const onlyBase = planRetention({ images: [], snapshots: [7], keepImages: 1, protectedVersions: [] });
    expect(onlyBase.destroySnapshots).toEqual([]);
  });
});
