// The whole prefetch pipeline through the real CLI: check-in, download, verify, import, export, on zfs-fuse + HTTPS.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { startFleet, makeDevice, type Fleet } from '../support/device-sandbox.js';

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet({ versions: 3 });
  await fleet.publishVersion(2, [1]);
  await fleet.publishVersion(3, [2], true);
});

afterAll(async () => {
  await fleet?.close();
});

describe('prefetch chain via upgradectl', () => {
  it('upgrades 1 -> 2 -> 3 by deltas, each image identical to the published one', async () => {
    const dev = await makeDevice(fleet, 'chain');
    try {
      fleet.target.version = 2;
      await dev.cli(['check-in']);
      let st = await dev.statusJson();
      expect(st.deployment?.phase).toBe('ready');
      expect(st.deployment?.stream?.from).toBe(1);
      expect(sha(join(dev.host, 'images', '2.img'))).toBe(fleet.images.versions[1]!.sha256);

      fleet.target.version = 3;
      await dev.cli(['check-in']);
      st = await dev.statusJson();
      expect(st.deployment?.version).toBe(3);
      expect(st.deployment?.phase).toBe('ready');
      expect(st.deployment?.stream?.from).toBe(2);
      expect(sha(join(dev.host, 'images', '3.img'))).toBe(fleet.images.versions[2]!.sha256);
      expect(st.daemon.running).toBe(false);
      expect(st.schema).toBe(1);
      // The stream file is gone once the snapshot holds the data.
      const hist = JSON.parse((await dev.cli(['history', '--json'])).stdout);
      expect(hist.entries.map((e: { event: string }) => e.event)).toContain('import:done');

      // Retention with keepImages 1: 3 is the newest (and the pending trial), 1 is booted and committed; 2 goes.
      const cfg = JSON.parse(readFileSync(dev.configPath, 'utf8'));
      writeFileSync(dev.configPath, JSON.stringify({ ...cfg, space: { ...cfg.space, keepImages: 1 } }));
      const dry = JSON.parse((await dev.cli(['cleanup', '--dry-run', '--json'])).stdout);
      expect(dry).toMatchObject({ dryRun: true, deleteImages: [2], destroySnapshots: [] });
      expect(existsSync(join(dev.host, 'images', '2.img'))).toBe(true);
      await dev.cli(['cleanup']);
      expect((await dev.statusJson()).images.map((i) => i.version)).toEqual([1, 3]);
    } finally {
      await dev.close();
    }
  });

  it('a device that skipped version 2 takes the full stream when no delta from its base exists', async () => {
    const dev = await makeDevice(fleet, 'skip');
    try {
      fleet.target.version = 3;
      await dev.cli(['check-in']);
      const st = await dev.statusJson();
      expect(st.deployment?.phase).toBe('ready');
      expect(st.deployment?.stream?.from).toBeNull();
      expect(sha(join(dev.host, 'images', '3.img'))).toBe(fleet.images.versions[2]!.sha256);
      expect(existsSync(join(dev.host, 'images', '2.img'))).toBe(false);
    } finally {
      await dev.close();
    }
  });

  it('prepare --manifest from an external trigger, and a replayed older manifest is refused', async () => {
    const dev = await makeDevice(fleet, 'prep');
    try {
      await dev.cli(['prepare', '--manifest', `${fleet.server.url}/manifests/3.json`]);
      expect((await dev.statusJson()).deployment?.phase).toBe('ready');
      const r = await dev.cli(['prepare', '--manifest', `${fleet.server.url}/manifests/2.json`], { reject: false });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('E_MANIFEST_ROLLBACK');
    } finally {
      await dev.close();
    }
  });
});
