// Offline bundles on real zfs-fuse pools: bundle → prepare --bundle → apply → committed, every refusal, a kill mid-import.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFleet, makeDevice, CLI, type Fleet, type Device } from '../support/device-sandbox.js';
import { openStateDbReadOnly } from '../../src/state/db.js';
import { Store } from '../../src/state/store.js';
import { indexTar } from '../../src/util/tar.js';
import { generateKeyPair } from '../../src/trust/keys.js';
import { signPayload } from '../../src/trust/sign.js';

const MiB = 1024 * 1024;
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
let fleet: Fleet;
let work: string;

beforeAll(async () => {
  // 12 MiB of incompressible data in every image: the full stream of 2 is big enough to kill mid-copy.
  fleet = await startFleet({ versions: 3, blobKiB: 12 * 1024, poolPrefix: 'uabnpub' });
  await fleet.publishVersion(1, [], true);
  await fleet.publishVersion(2, [1], true);
  await fleet.publishVersion(3, [2], false);
  work = join(fleet.dir, 'bundles');
  mkdirSync(work);
});
afterAll(async () => {
  await fleet?.close();
});

/** `upgradectl bundle` exactly as the README shows it; returns the file. */
async function bundle(version: number, from: string[], name = `b${version}-${from.join('_') || 'all'}.bundle`, dir = fleet.www): Promise<string> {
  const out = join(work, name);
  const r = await execa('node', [CLI, 'bundle', '--publish-dir', dir, '--version', String(version), ...from.flatMap((f) => ['--from', f]), '--out', out], { reject: false });
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ bundle: out, version });
  return out;
}

const device = (name: string, extra: Record<string, unknown> = {}): Promise<Device> => makeDevice(fleet, name, extra, true, { prefix: 'uabn' });

async function phaseOf(dev: Device): Promise<{ phase: string | null; bytes: number }> {
  const db = openStateDbReadOnly(join(dev.host, 'var/lib/upgrade-agent'));
  const d = db ? new Store(db).active() : null;
  db?.close();
  return { phase: d?.phase ?? null, bytes: d?.downloadedBytes ?? 0 };
}

/** Still on image 1, committed, nothing in progress: what every refusal must leave. */
async function untouched(dev: Device): Promise<void> {
  const st = await dev.statusJson();
  expect(st.committedVersion ?? 1).toBe(1);
  expect(readFileSync(join(dev.dir, 'cmdline'), 'utf8')).toContain('ua.image=/images/1.img');
  expect(st.deployment === null || ['failed', 'cancelled'].includes(st.deployment.phase)).toBe(true);
  expect(sha(join(dev.host, 'images', '1.img'))).toBe(fleet.images.versions[0]!.sha256);
}

describe('offline bundles', () => {
  it('bundle → prepare --bundle → apply → committed; the next check-in reports it; an older bundle is refused', async () => {
    const file = await bundle(2, ['1']);
    // It is a plain tar: the index first, the signed manifest verbatim, the one stream named by its sha256.
    const names = (await execa('tar', ['-tf', file])).stdout.split('\n');
    expect(names[0]).toBe('upgrade-bundle.json');
    expect(names).toHaveLength(3);
    expect(readFileSync(join(fleet.www, 'manifests', '2.json')).equals((await execa('tar', ['-xOf', file, 'manifest.json'], { encoding: 'buffer' })).stdout)).toBe(true);
    const dev = await device('bnok');
    try {
      fleet.server.stats.clear();
      const r = await dev.cli(['prepare', '--bundle', file]);
      expect(r.stdout).toMatch(/ready/);
      expect(fleet.server.stats.size).toBe(0); // nothing came from the fleet
      expect(sha(join(dev.host, 'images', '2.img'))).toBe(fleet.images.versions[1]!.sha256);
      const hist = JSON.parse((await dev.cli(['history', '--json'])).stdout) as { entries: { event: string; data: Record<string, unknown> | null }[] };
      expect(hist.entries.find((e) => e.event === 'bundle-opened')?.data).toMatchObject({ path: file, streams: [1] });
      expect(hist.entries.find((e) => e.event === 'stream-selected')?.data).toMatchObject({ from: 1, base: 1 });
      await dev.cli(['apply', '--now']);
      expect(readFileSync(join(dev.dir, 'cmdline'), 'utf8')).toContain('ua.image=/images/2.img');
      expect((await dev.cli(['confirm'])).stdout).toMatch(/committed: image 2/);
      expect((await dev.statusJson()).committedVersion).toBe(2);
      fleet.target.version = null;
      await dev.cli(['check-in']);
      expect(fleet.reports.filter((x) => x.deviceId === 'bnok').at(-1)).toMatchObject({ bootedVersion: 2, committedVersion: 2 });
      // With the daemon up, prepare --bundle is handed to it: a relative path is made absolute first.
      const three = await bundle(3, ['2']);
      const daemon = execa('node', [CLI, 'daemon', '--config', dev.configPath], { reject: false });
      try {
        for (let i = 0; i < 100 && !(await dev.statusJson()).daemon.running; i++) await sleep(100);
        expect((await dev.statusJson()).daemon.running).toBe(true);
        const h = await execa('node', [CLI, 'prepare', '--bundle', three.slice(work.length + 1), '--json', '--config', dev.configPath], { cwd: work, reject: false });
        expect(h.exitCode).toBe(0);
        expect(JSON.parse(h.stdout)).toMatchObject({ schema: 1, outcome: { kind: 'ready', deployment: { version: 3, manifestUrl: `file://${three}` } } });
      } finally {
        daemon.kill('SIGTERM');
        expect((await daemon).exitCode).toBe(0);
      }
      expect(sha(join(dev.host, 'images', '3.img'))).toBe(fleet.images.versions[2]!.sha256);
      // An older image from a stick: the version floor refuses it; nothing changes.
      const older = await bundle(1, ['full']);
      const o = await dev.cli(['prepare', '--bundle', older], { reject: false });
      expect(o.exitCode).toBe(1);
      expect(o.stderr).toMatch(/^upgradectl: E_MANIFEST_ROLLBACK: /m);
      expect((await dev.statusJson()).committedVersion).toBe(2);
    } finally {
      await dev.close();
    }
  });

  it('refuses bad bundles with their codes and leaves the device on its committed image', async () => {
    const good = await bundle(2, ['1']);
    const dev = await device('bnbad');
    const refuse = async (file: string, code: string): Promise<void> => {
      const r = await dev.cli(['prepare', '--bundle', file], { reject: false });
      expect(r.stderr).toMatch(new RegExp(`^upgradectl: ${code}: `, 'm'));
      expect(r.exitCode).toBe(1);
      await untouched(dev);
    };
    try {
      // Not a bundle: random bytes, a tar of something else, a directory.
      const junk = join(work, 'junk.bin');
      writeFileSync(junk, Buffer.alloc(10_000, 0x5a));
      await refuse(junk, 'E_BUNDLE_INVALID');
      const otherTar = join(work, 'other.tar');
      await execa('tar', ['-cf', otherTar, '-C', fleet.www, 'manifests']);
      await refuse(otherTar, 'E_BUNDLE_INVALID');
      await refuse(work, 'E_BUNDLE_INVALID');
      // Cut short (a copy that did not finish), in the stream and just before the end marker.
      const size = statSync(good).size;
      for (const keep of [Math.floor(size / 2), size - 1024]) {
        const cut = join(work, `cut-${keep}.bundle`);
        writeFileSync(cut, readFileSync(good).subarray(0, keep));
        await refuse(cut, 'E_BUNDLE_TRUNCATED');
      }
      // The device's base is 1; a bundle of 3 carries only the diff from 2.
      await refuse(await bundle(3, ['2']), 'E_BUNDLE_STREAM_MISSING');
      // The same manifest payload, signed by a key the device does not trust.
      const rogue = join(work, 'rogue-www');
      mkdirSync(join(rogue, 'manifests'), { recursive: true });
      symlinkSync(join(fleet.www, 'streams'), join(rogue, 'streams'));
      const env = JSON.parse(readFileSync(join(fleet.www, 'manifests', '2.json'), 'utf8')) as { payload: string };
      writeFileSync(join(rogue, 'manifests', '2.json'), JSON.stringify(signPayload(Buffer.from(env.payload, 'base64'), [generateKeyPair()])));
      await refuse(await bundle(2, ['1'], 'rogue.bundle', rogue), 'E_MANIFEST_SIGNATURE');
      // Another hardware, another channel: the manifest's own checks, as from the fleet.
      const cfg = readFileSync(dev.configPath, 'utf8');
      writeFileSync(dev.configPath, JSON.stringify({ ...JSON.parse(cfg), hardware: 'other-board' }));
      await refuse(good, 'E_MANIFEST_HARDWARE');
      writeFileSync(dev.configPath, JSON.stringify({ ...JSON.parse(cfg), channel: 'beta' }));
      await refuse(good, 'E_MANIFEST_CHANNEL');
      writeFileSync(dev.configPath, cfg);
      // One flipped byte inside the stream: caught while copying, before anything reaches zfs recv; the copy is gone.
      const tampered = join(work, 'tampered.bundle');
      copyFileSync(good, tampered);
      const fh = await open(tampered, 'r+');
      const entries = await indexTar(async (b, p) => (await fh.read(b, 0, b.length, p)).bytesRead, (await fh.stat()).size);
      const stream = entries.find((e) => e.name.startsWith('streams/'))!;
      const at = stream.offset + Math.floor(stream.size / 2);
      const byte = Buffer.alloc(1);
      await fh.read(byte, 0, 1, at);
      byte[0] = byte[0]! ^ 0xff;
      await fh.write(byte, 0, 1, at);
      await fh.close();
      await refuse(tampered, 'E_BUNDLE_STREAM_HASH');
      expect((await dev.statusJson()).deployment).toMatchObject({ phase: 'failed', lastError: { code: 'E_BUNDLE_STREAM_HASH' } });
      expect(readdirSync(join(dev.host, 'var/lib/upgrade-agent/downloads'))).toEqual([]);
      const snaps = (await execa('zfs', ['list', '-H', '-t', 'snapshot', '-o', 'name', '-r', `${dev.pool.name}/images`])).stdout.split('\n');
      expect(snaps).toEqual([`${dev.pool.name}/images@1`]);
      // Nothing was lost: the good bundle still goes through afterwards.
      expect((await dev.cli(['prepare', '--bundle', good])).exitCode).toBe(0);
      expect((await dev.statusJson()).deployment?.phase).toBe('ready');
    } finally {
      await dev.close();
    }
  });

  it.each(['downloading', 'importing'] as const)('SIGKILL while %s from a bundle, then prepare --bundle again: resumes and ends identical', async (phase) => {
    const file = await bundle(2, ['full'], `kill-${phase}.bundle`);
    expect(statSync(file).size).toBeGreaterThan(10 * MiB);
    // The copy is held to 2 MiB/s (download.maxBytesPerSec applies to it) and checkpoints every MiB: killable mid-way.
    const dev = await device(`bnk${phase.slice(0, 3)}`, { download: { maxBytesPerSec: 2 * MiB, chunkFsyncBytes: MiB }, logLevel: 'info' });
    try {
      const child = execa('node', [CLI, 'prepare', '--bundle', file, '--config', dev.configPath], { reject: false });
      let seen = { phase: null as string | null, bytes: 0 };
      for (let i = 0; i < 1500; i++) {
        await sleep(20);
        seen = await phaseOf(dev);
        if (seen.phase === phase && (phase !== 'downloading' || seen.bytes >= 3 * MiB)) break;
      }
      expect(seen.phase).toBe(phase);
      if (phase === 'importing') await sleep(50);
      child.kill('SIGKILL');
      await child;
      const after = await phaseOf(dev);
      expect(after.phase).toBe(phase);
      const r = await dev.cli(['prepare', '--bundle', file]);
      if (phase === 'downloading') {
        // Resumed by offset from the checkpoint, not from byte 0.
        const line = `${r.stdout}\n${r.stderr}`.split('\n').find((l) => l.includes('resuming copy from bundle'));
        expect(JSON.parse(line ?? '{}').from).toBeGreaterThanOrEqual(3 * MiB);
      }
      expect((await dev.statusJson()).deployment?.phase).toBe('ready');
      expect(sha(join(dev.host, 'images', '2.img'))).toBe(fleet.images.versions[1]!.sha256);
      const hist = JSON.parse((await dev.cli(['history', '--json'])).stdout) as { entries: { event: string; data: { phase?: string } | null }[] };
      expect(hist.entries.filter((e) => e.event === 'resumed').map((e) => e.data?.phase)).toEqual([phase]);
      expect(existsSync(join(dev.host, 'var/lib/upgrade-agent/downloads'))).toBe(true);
      expect(readdirSync(join(dev.host, 'var/lib/upgrade-agent/downloads'))).toEqual([]);
    } finally {
      await dev.close();
    }
  });
});
