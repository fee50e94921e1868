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

const CLI = new URL('../cli/upgradectl.js', import.meta.url).pathname;
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
    writeFileSync(join(dir, 'device', 'cmdline'), 'root=/dev/sda1 ua.image=/images/1.img panic=10\n');
    const pubKey = JSON.parse(readFileSync(join(dir, 'fleet-key.pub'), 'utf8')) as { keyid: string; publicKey: string };
    writeFileSync(join(dir, 'device', 'config.json'), JSON.stringify({
      deviceId: 'demo-device-1',
      hardware: 'demo-board',
      paths: { hostRoot: host, socket: join(dir, 'device', 'agent.sock') },
      zfs: { pool: dev.name, dataset: 'images' },
      fleet: { url: server.url, caFile: ca.caFile },
      trust: { keys: [pubKey] },
      space: { reserveBytes: 0 },
      boot: { cmdlineFile: join(dir, 'device', 'cmdline') },
      download: { chunkFsyncBytes: 1 << 20 },
    }, null, 2));

    for (const v of [2, 3]) {
      target.version = v;
      say(`== upgradectl check-in (the fleet now offers version ${v})`);
      const code = await cli(['check-in']);
      if (code !== 0) throw new Error(`check-in for version ${v} exited ${code}`);
    }
    say('== upgradectl images');
    await cli(['images']);
    say('== upgradectl status');
    await cli(['status']);
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
