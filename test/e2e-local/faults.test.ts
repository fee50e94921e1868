// Faults seen through the CLI: tampered stream, come-back-later, full disk, and the daemon's control socket.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, existsSync } from 'node:fs';
import { execa } from 'execa';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFleet, makeDevice, CLI, type Fleet, type Device } from '../support/device-sandbox.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet({ versions: 2 });
  await fleet.publishVersion(2, [1]);
  fleet.target.version = 2;
});
afterAll(async () => {
  await fleet?.close();
});

async function snapshots(dev: Device): Promise<string[]> {
  const r = await execa('zfs', ['list', '-H', '-t', 'snapshot', '-o', 'name', '-r', `${dev.pool.name}/images`]);
  return r.stdout.split('\n').map((l) => l.split('@')[1] as string);
}

describe('faults through upgradectl', () => {
  it('a stream with one flipped bit fails the deployment with E_DOWNLOAD_HASH and nothing is received', async () => {
    const dev = await makeDevice(fleet, 'flip');
    fleet.server.faults.replaceBody = (buf) => {
      const copy = Buffer.from(buf);
      copy[Math.floor(copy.length / 2)]! ^= 0x10;
      return copy;
    };
    fleet.server.faults.paths = ['/streams/1-2.zfs.xz'];
    try {
      const r = await dev.cli(['check-in'], { reject: false });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/^upgradectl: E_DOWNLOAD_HASH: image 2: /m);
      const st = await dev.statusJson();
      expect(st.deployment?.phase).toBe('failed');
      expect(st.deployment?.lastError?.code).toBe('E_DOWNLOAD_HASH');
      expect(await snapshots(dev)).toEqual(['1']);
      expect(existsSync(join(dev.host, 'images', '2.img'))).toBe(false);
    } finally {
      fleet.server.faults.replaceBody = undefined;
      fleet.server.faults.paths = undefined;
      await dev.close();
    }
  });

  it('a stream longer than signed fails with E_DOWNLOAD_TOO_LARGE, exit 1 and its line on stderr', async () => {
    const dev = await makeDevice(fleet, 'long');
    fleet.server.faults.replaceBody = (buf) => Buffer.concat([buf, Buffer.alloc(4096, 7)]);
    fleet.server.faults.paths = ['/streams/1-2.zfs.xz'];
    try {
      const r = await dev.cli(['check-in'], { reject: false });
      expect(r.stderr).toMatch(/^upgradectl: E_DOWNLOAD_TOO_LARGE: image 2: /m);
      expect(r.exitCode).toBe(1);
      expect((await dev.statusJson()).deployment?.lastError?.code).toBe('E_DOWNLOAD_TOO_LARGE');
    } finally {
      fleet.server.faults.replaceBody = undefined;
      fleet.server.faults.paths = undefined;
      await dev.close();
    }
  });

  it('waits out 202 twice before 200 and then completes', async () => {
    const dev = await makeDevice(fleet, 'later');
    fleet.server.stats.clear();
    fleet.server.faults.pending = new Map([['/streams/1-2.zfs.xz', 2]]);
    try {
      await dev.cli(['check-in']);
      const st = await dev.statusJson();
      expect(st.deployment?.phase).toBe('ready');
      // The E_RETRY_LATER of the deferrals is history once the download completed, not the ready deployment's error.
      expect(st.deployment?.lastError).toBeNull();
      expect((await dev.cli(['status'])).stdout).not.toMatch(/^ {2}error/m);
      expect(fleet.server.stats.get('/streams/1-2.zfs.xz')!.requests).toBe(3);
      const hist = JSON.parse((await dev.cli(['history', '--json'])).stdout);
      expect(hist.entries.filter((e: { event: string }) => e.event === 'download:deferred')).toHaveLength(2);
    } finally {
      fleet.server.faults.pending = undefined;
      await dev.close();
    }
  });

  it('prepare --manifest waits out a manifest answering 202 twice, then completes', async () => {
    const dev = await makeDevice(fleet, 'mlater');
    fleet.server.stats.clear();
    fleet.server.faults.pending = new Map([['/manifests/2.json', 2]]);
    try {
      const r = await dev.cli(['prepare', '--manifest', `${fleet.server.url}/manifests/2.json`], { reject: false });
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect((await dev.statusJson()).deployment?.phase).toBe('ready');
      expect(fleet.server.stats.get('/manifests/2.json')!.requests).toBe(3);
    } finally {
      fleet.server.faults.pending = undefined;
      await dev.close();
    }
  });

  it('a manifest still being built when the foreground wait ends is deferred (exit 3) with its reason', async () => {
    const dev = await makeDevice(fleet, 'mdefer', { download: { retryLaterMaxSec: 2 } });
    fleet.server.faults.pending = new Map([['/manifests/2.json', Infinity]]);
    try {
      const r = await dev.cli(['prepare', '--manifest', `${fleet.server.url}/manifests/2.json`], { reject: false });
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toMatch(/^upgradectl: E_RETRY_LATER: /);
      expect((await dev.statusJson()).deployment).toBeNull();
    } finally {
      fleet.server.faults.pending = undefined;
      await dev.close();
    }
  });

  it('a downloads filesystem too small for the stream is refused with E_NO_SPACE and kept for retry', async () => {
    const dev = await makeDevice(fleet, 'full');
    const small = join(dev.dir, 'small');
    mkdirSync(small);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', small]);
    try {
      const cfg = { ...dev.config, paths: { ...(dev.config['paths'] as object), downloadsDir: join(small, 'dl') }, download: { retryLaterMaxSec: 1 } };
      const { writeFileSync } = await import('node:fs');
      writeFileSync(dev.configPath, JSON.stringify(cfg));
      const r = await dev.cli(['check-in'], { reject: false });
      // Deferred (exit 3) says why and when it is tried again.
      expect(r.stderr).toMatch(/^upgradectl: E_NO_SPACE: image 2: .*; deferred, next attempt at \d{4}-\d\d-\d\dT/m);
      expect(r.exitCode).toBe(3);
      const st = await dev.statusJson();
      expect(st.deployment?.phase).toBe('downloading');
      expect(st.deployment?.lastError?.code).toBe('E_NO_SPACE');
      expect(await snapshots(dev)).toEqual(['1']);
    } finally {
      await execa('umount', [small]);
      await dev.close();
    }
  });

  it('the daemon serves check-in over its socket; status --json works with it up and down', async () => {
    const dev = await makeDevice(fleet, 'daemon');
    const daemon = execa('node', [CLI, 'daemon', '--config', dev.configPath], { reject: false });
    try {
      for (let i = 0; i < 100 && !(await dev.statusJson()).daemon.running; i++) await sleep(100);
      expect((await dev.statusJson()).daemon.running).toBe(true);
      await dev.cli(['check-in']);
      const st = await dev.statusJson();
      expect(st.deployment?.phase).toBe('ready');
    } finally {
      daemon.kill('SIGTERM');
      const r = await daemon;
      expect(r.exitCode).toBe(0);
    }
    const down = await dev.statusJson();
    expect(down.daemon.running).toBe(false);
    expect(down.deployment?.version).toBe(2);
    await dev.close();
  });
});
