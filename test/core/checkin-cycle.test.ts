// The trial outcome a check-in reports: the newest deployment that reached `ready` and ended, with its reason.
import { describe, expect, it } from 'vitest';
import { lastTrial } from '../../src/core/checkin-cycle.js';
import type { Deployment } from '../../src/state/store.js';

let n = 100;
const dep = (phase: Deployment['phase'], readyAt: number | null, o: Partial<Deployment> = {}): Deployment =>
  ({ id: n--, version: n, phase, readyAt, reasonCode: null, ...o }) as Deployment;

describe('lastTrial', () => {
  it('committed: no reason; rolled back and failed: their reason code', () => {
    expect(lastTrial([dep('committed', 1, { id: 7, version: 17, reasonCode: 'E_OLD' })])).toEqual({ version: 17, outcome: 'committed', reason: null, deploymentId: 7 });
    expect(lastTrial([dep('rolled_back', 1, { id: 8, version: 18, reasonCode: 'E_HEALTH' })])).toEqual({ version: 18, outcome: 'rolled_back', reason: 'E_HEALTH', deploymentId: 8 });
    expect(lastTrial([dep('failed', 1, { id: 9, version: 19, reasonCode: 'E_MIGRATE' })])).toEqual({ version: 19, outcome: 'failed', reason: 'E_MIGRATE', deploymentId: 9 });
  });

  it('skips what never reached the switch (prefetch failures, cancelled), and reports nothing while a trial runs', () => {
    const older = dep('committed', 1, { id: 3, version: 3 });
    expect(lastTrial([dep('failed', null, { reasonCode: 'E_DOWNLOAD_HASH' }), dep('cancelled', 5), older])?.deploymentId).toBe(3);
    expect(lastTrial([dep('confirming', 9), older])).toBeNull();
    expect(lastTrial([dep('downloading', null)])).toBeNull();
    expect(lastTrial([])).toBeNull();
  });
});
