// A device whose pool was made with `zpool create -m none`: nothing inherits a mountpoint, and the whole chain still works.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDevice, startFleet, type Fleet } from '../support/device-sandbox.js';

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
/** The signed payload's streams of a published manifest. */
const streamsOf = (version: number): { chunks?: unknown }[] =>
  JSON.parse(Buffer.from(JSON.parse(readFileSync(join(fleet.www, 'manifests', `${version}.json`), 'utf8')).payload, 'base64').toString()).streams;

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet({ versions: 3 });
  await fleet.publishVersion(2, [1]); // with chunk hashes (publish's default)
  await fleet.publishVersion(3, [2], true, false); // without: the whole-file path
});

afterAll(async () => {
  await fleet?.close();
});

describe('a pool with mountpoint=none', () => {
  it('seeds, then upgrades 1 -> 2 (chunk-checked) -> 3 (whole-file), each image identical to the published one', async () => {
    const dev = await makeDevice(fleet, 'mpnone', {}, true, { mountpoint: 'none' });
    try {
      expect(streamsOf(2).every((st) => st.chunks !== undefined)).toBe(true);
      expect(streamsOf(3).some((st) => st.chunks !== undefined)).toBe(false);
      const root = await execa('zfs', ['get', '-H', '-o', 'value', 'mountpoint', dev.pool.name]);
      expect(root.stdout.trim()).toBe('none');
      fleet.target.version = 2;
      await dev.cli(['check-in']);
      expect((await dev.statusJson()).deployment).toMatchObject({ version: 2, phase: 'ready' });
      expect(sha(join(dev.host, 'images', '2.img'))).toBe(fleet.images.versions[1]!.sha256);

      fleet.target.version = 3;
      await dev.cli(['check-in']);
      expect((await dev.statusJson()).deployment).toMatchObject({ version: 3, phase: 'ready' });
      expect(sha(join(dev.host, 'images', '3.img'))).toBe(fleet.images.versions[2]!.sha256);

      // Nothing of ours is left mounted or cloned, and the head stays settled.
      const list = await execa('zfs', ['list', '-H', '-o', 'name,mounted', '-r', dev.pool.name]);
      expect(list.stdout.split('\n').map((l) => l.split('\t'))).toEqual([[dev.pool.name, 'no'], [`${dev.pool.name}/images`, 'no']]);
    } finally {
      await dev.close();
    }
  });
});
