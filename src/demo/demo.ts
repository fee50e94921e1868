// The demo: a throwaway fleet and device in a sandbox, upgraded 1 -> 2 -> 3 by the real agent, then `status`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { createPool, buildImageVersions, ensureZfsFuse, type TestPool, type ImageVersion } from '../sandbox/pools.js';
import { seedDevice } from '../sandbox/device.js';
import { makeThrowawayCa } from '../sandbox/tls.js';
import { startFleetServer, type FleetServer } from '../fleet/server.js';
import { formatAgentLine } from './format.js';

const CLI = new URL('../sandbox/upgradectl.js', import.meta.url).pathname;
const say = (s: string): void => void process.stdout.write(`${s}\n`);

/** Runs upgradectl as a separate process, as a device would, turning its JSON log lines into readable progress. */
async function upgradectl(args: string[], configPath: string): Promise<number> {
  const child = execa('node', [CLI, ...args, '--config', configPath], { reject: false, buffer: false, stdout: 'pipe', stderr: 'inherit' });
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    rest += chunk.toString('utf8');
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) say(formatAgentLine(line));
  });
  const r = await child;
  if (rest) say(formatAgentLine(rest));
  return r.exitCode ?? 1;
}

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  const dir = mkdtempSync(join(tmpdir(), 'upgrade-agent-demo-'));
  const pools: TestPool[] = [];
  let server: FleetServer | null = null;
  try {
    say(`== sandbox in ${dir}`);
    await ensureZfsFuse();
    const cli = (args: string[], cwdConfig?: string): Promise<number> => upgradectl(args, cwdConfig ?? join(dir, 'device', 'config.json'));

    say('== publisher: three image versions in a zfs-fuse pool, signed diffs and manifests');
    const pub = await createPool(dir, 'demopub', 512);
    pools.push(pub);
    const images = await buildImageVersions(pub, { workDir: dir, count: 3, sizeMiB: 64, blobKiB: 4096 });
    const www = join(dir, 'www');
    mkdirSync(www);
    await execa('node', [CLI, 'keygen', '--out', join(dir, 'fleet-key')]);
    for (const [version, from] of [[2, '1'], [3, '2']] as const) {
      await execa('node', [CLI, 'publish', '--dataset', images.dataset, '--version', String(version), '--from', from,
        '--key', join(dir, 'fleet-key.key'), '--hardware', 'demo-board', '--channel', 'stable', '--out', www, '--label', `demo ${version}`]);
      say(`   published version ${version} (delta from ${from} + full stream)`);
    }

    say('== fleet server on https://127.0.0.1 (throwaway CA)');
    mkdirSync(join(dir, 'ca'));
    const ca = await makeThrowawayCa(join(dir, 'ca'));
    const target = { version: 2 };
    server = await startFleetServer({
      root: www,
      tls: { key: ca.key, cert: ca.cert },
      checkin: () => ({ target: { version: target.version, manifest: `manifests/${target.version}.json` } }),
    });

    say('== device: its own pool holding image 1, a sandbox /host, booted from /images/1.img');
    const dev = await createPool(dir, 'demodev', 512);
    pools.push(dev);
    const host = join(dir, 'device', 'host');
    mkdirSync(join(host, 'images'), { recursive: true });
    await seedDevice({
      publisherDataset: images.dataset, image: images.versions[0] as ImageVersion, pool: dev.name, dataset: 'images',
      imagesDir: join(host, 'images'), workDir: dir,
    });
    const devDir = join(dir, 'device');
    writeFileSync(join(devDir, 'cmdline'), 'root=/dev/sda1 ua.image=/images/1.img panic=10\n');
    writeFileSync(join(devDir, 'boot_id'), 'first-boot\n');
    // The running system's files the allow-list carries into each new image.
    mkdirSync(join(devDir, 'rootfs', 'etc'), { recursive: true });
    writeFileSync(join(devDir, 'rootfs', 'etc', 'app.conf'), 'customer=ACME\nretention_days=30\n');
    // A service check the operator configured; the demo breaks it for image 3.
    const check = join(devDir, 'app-healthy.sh');
    writeFileSync(check, '#!/bin/sh\necho "app: all services up"\nexit 0\n', { mode: 0o755 });
    mkdirSync(join(host, 'boot', 'grub'), { recursive: true });
    const pubKey = JSON.parse(readFileSync(join(dir, 'fleet-key.pub'), 'utf8')) as { keyid: string; publicKey: string };
    const configPath = join(devDir, 'config.json');
    writeFileSync(configPath, JSON.stringify({
      deviceId: 'demo-device-1',
      hardware: 'demo-board',
      paths: { hostRoot: host, socket: join(devDir, 'agent.sock') },
      zfs: { pool: dev.name, dataset: 'images' },
      fleet: { url: server.url, caFile: ca.caFile },
      trust: { keys: [pubKey] },
      space: { reserveBytes: 0 },
      boot: { cmdlineFile: join(devDir, 'cmdline'), bootIdFile: join(devDir, 'boot_id'), kernelRoot: '/dev/sda1' },
      health: { systemd: false, required: [check] },
      migrate: { sourceRoot: join(devDir, 'rootfs'), allow: ['/etc/app.conf'], runtimeDir: join(devDir, 'run') },
      download: { chunkFsyncBytes: 1 << 20 },
    }, null, 2));
    // The installer's grub.cfg: image 1 committed.
    writeFileSync(join(host, 'boot', 'grub', 'grub.cfg'), (await execa('node', [CLI, 'grub-cfg', '--print', '--config', configPath])).stdout);
    const bootedNow = (): string => /ua\.image=(\S+)/.exec(readFileSync(join(devDir, 'cmdline'), 'utf8'))?.[1] ?? '?';
    const step = async (title: string, args: string[]): Promise<void> => {
      say(`== ${title}`);
      const code = await cli(args);
      if (code !== 0) throw new Error(`upgradectl ${args.join(' ')} exited ${code}`);
    };

    for (const v of [2, 3]) {
      target.version = v;
      await step(`upgradectl check-in (the fleet now offers version ${v})`, ['check-in']);
    }
    await step('upgradectl apply --now (skip the night window): migrate, arm a one-shot trial, reboot', ['apply', '--now']);
    say(`   [sandbox] power cycle done: Grub booted ${bootedNow()}`);
    await step('upgradectl confirm (the boot-time unit): health checks, then commit', ['confirm']);

    say('== the fleet publishes version 4; its app service is broken');
    await images.addVersion(4);
    await execa('node', [CLI, 'publish', '--dataset', images.dataset, '--version', '4', '--from', '3',
      '--key', join(dir, 'fleet-key.key'), '--hardware', 'demo-board', '--channel', 'stable', '--out', www, '--label', 'demo 4']);
    target.version = 4;
    await step('upgradectl check-in (version 4)', ['check-in']);
    await step('upgradectl apply --now', ['apply', '--now']);
    say(`   [sandbox] power cycle done: Grub booted ${bootedNow()}`);
    writeFileSync(check, '#!/bin/sh\necho "app: database service failed to start" >&2\nexit 1\n', { mode: 0o755 });
    await step('upgradectl confirm: the health check fails, the agent reboots', ['confirm']);
    say(`   [sandbox] power cycle done: the trial was consumed, Grub booted ${bootedNow()}`);
    await step('upgradectl confirm (next boot): the fallback is recorded', ['confirm']);
    await step('upgradectl images', ['images']);
    await step('upgradectl status', ['status']);
    const sent = [...server.stats.entries()].map(([p, s]) => `${p} ${s.bytesSent} B`).join(', ');
    say(`== bytes served: ${sent}`);
  } finally {
    await server?.close();
    for (const p of pools.reverse()) await p.destroy().catch((err: unknown) => say(`cleanup: ${(err as Error).message}`));
    if (keep) say(`== kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
