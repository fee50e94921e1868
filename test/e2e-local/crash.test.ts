// SIGKILL at any moment of prefetch, then restart: resumes from what is on disk and ends identical.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStateDbReadOnly } from '../../src/state/db.js';
import { Store } from '../../src/state/store.js';
import { startFleet, makeDevice, CLI, type Fleet, type Device } from '../support/device-sandbox.js';

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
const MiB = 1024 * 1024;

let fleet: Fleet;
let streamPath: string;
let streamSize: number;

beforeAll(async () => {
  // 12 MiB of incompressible data: the full stream is big enough to kill mid-download.
  fleet = await startFleet({ versions: 1, blobKiB: 12 * 1024 });
  await fleet.publishVersion(1, [], true);
  streamPath = '/streams/full-1.zfs.xz';
  streamSize = statSync(join(fleet.www, streamPath)).size;
  fleet.target.version = 1;
});

afterAll(async () => {
  await fleet?.close();
});

function startCheckIn(dev: Device) {
  return execa('node', [CLI, 'check-in', '--config', dev.configPath], { reject: false });
}

async function finish(dev: Device): Promise<void> {
  fleet.server.faults.dripBytesPerSec = undefined;
  await dev.cli(['check-in']);
  const st = await dev.statusJson();
  expect(st.deployment?.phase).toBe('ready');
  expect(sha(join(dev.host, 'images', '1.img'))).toBe(fleet.images.versions[0]!.sha256);
}

describe('crash safety of prefetch', () => {
  it('SIGKILL mid-download resumes by Range: at most 1 MiB is downloaded twice', async () => {
    expect(streamSize).toBeGreaterThan(8 * MiB);
    const dev = await makeDevice(fleet, 'killdl', {}, false);
    try {
      fleet.server.stats.clear();
      fleet.server.faults.dripBytesPerSec = 2 * MiB;
      const child = startCheckIn(dev);
      // Wait until a good part of the stream was sent, then cut the process off without warning.
      for (let i = 0; i < 200 && (fleet.server.stats.get(streamPath)?.bytesSent ?? 0) < 5 * MiB; i++) await sleep(50);
      child.kill('SIGKILL');
      await child;
      const sentBefore = fleet.server.stats.get(streamPath)!.bytesSent;
      expect(sentBefore).toBeGreaterThan(4 * MiB);
      expect(sentBefore).toBeLessThan(streamSize);
      expect((await dev.statusJson()).deployment?.phase).toBe('downloading');
      await finish(dev);
      const s = fleet.server.stats.get(streamPath)!;
      expect(s.ranges.at(-1)).toMatch(/^bytes=\d+-$/);
      expect(s.bytesSent - streamSize).toBeLessThanOrEqual(MiB);
      const hist = JSON.parse((await dev.cli(['history', '--json'])).stdout);
      expect(hist.entries.some((e: { event: string }) => e.event === 'resumed')).toBe(true);
    } finally {
      await dev.close();
    }
  });

  it.each(['downloading', 'importing', 'exporting'] as const)('SIGKILL while %s, then restart: resumes and ends identical', async (phase) => {
    const dev = await makeDevice(fleet, `kill${phase}`, {}, false);
    try {
      fleet.server.faults.dripBytesPerSec = 8 * MiB;
      const child = startCheckIn(dev);
      // Watch the state database (read-only, as `status` does) and strike once the effect of `phase` is under way.
      const stateDir = join(dev.host, 'var/lib/upgrade-agent');
      let seen: string | null = null;
      for (let i = 0; i < 1500 && seen !== phase; i++) {
        await sleep(20);
        const db = openStateDbReadOnly(stateDir);
        seen = db ? (new Store(db).active()?.phase ?? null) : null;
        db?.close();
      }
      expect(seen).toBe(phase);
      await sleep(50);
      child.kill('SIGKILL');
      await child;
      // Orphaned xz/zfs children of the killed process may still be finishing a recv; the import copes with that.
      await finish(dev);
      const snaps = (await execa('zfs', ['list', '-H', '-t', 'snapshot', '-o', 'name', '-r', `${dev.pool.name}/images`])).stdout.split('\n');
      expect(snaps).toEqual([`${dev.pool.name}/images@1`]);
      const hist = JSON.parse((await dev.cli(['history', '--json'])).stdout) as { entries: { event: string; data: { phase?: string } | null }[] };
      const resumed = hist.entries.filter((e) => e.event === 'resumed').map((e) => e.data?.phase);
      // Killed in an in-progress phase: the restart must have recovered exactly that phase, once.
      expect(resumed).toEqual([phase]);
    } finally {
      await dev.close();
    }
  });
});
