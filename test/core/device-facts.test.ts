// The committed image as the agent reads it: recorded, or (before any record) the booted image, but never a trial.
import { describe, it, expect } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStateDb } from '../../src/state/db.js';
import { Store } from '../../src/state/store.js';
import { readCommittedVersion } from '../../src/core/device-facts.js';

function device(bootedVersion: number) {
  const dir = mkdtempSync(join(tmpdir(), 'ua-facts-'));
  return { booted: bootedVersion, store: new Store(openStateDb(join(dir, 'state'))) };
}

const dep = { version: 2, label: 'v2', manifestUrl: null, envelope: Buffer.from('{}'), payloadSha256: 'a'.repeat(64), imageSize: 10, imageSha256: 'b'.repeat(64) };

/** A deployment of 2 in `confirming`, its switch started from 1, as an agent that records `committed_version` only at a commit leaves it. */
function trialOf2(store: Store): number {
  const d = store.create(dep);
  for (const p of ['downloading', 'downloaded', 'importing', 'imported', 'exporting', 'ready'] as const) store.transition(d.id, p);
  store.transition(d.id, 'migrating', {}, 'switch:start', { committed: 1 });
  for (const p of ['staged', 'rebooting', 'confirming'] as const) store.transition(d.id, p);
  return d.id;
}

describe('readCommittedVersion', () => {
  it('is the recorded version when there is one', () => {
    const { booted, store } = device(2);
    store.recordCommittedVersion(1);
    expect(readCommittedVersion(store, booted)).toBe(1);
  });

  it('before any switch, is the booted image', () => {
    const { booted, store } = device(1);
    expect(readCommittedVersion(store, booted)).toBe(1);
  });

  it('with nothing recorded and the trial running, is the image the switch started from, not the trial', () => {
    const { booted, store } = device(2);
    trialOf2(store);
    expect(readCommittedVersion(store, booted)).toBe(1);
  });

  it('with nothing recorded and the device back on 1 after the trial, is the booted image', () => {
    const { booted, store } = device(1);
    trialOf2(store);
    expect(readCommittedVersion(store, booted)).toBe(1);
  });
});
