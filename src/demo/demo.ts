// The demo: a throwaway fleet (`upgradectl serve`) and device in a sandbox: an on-demand diff 1→3, a commit, a broken 4 that pauses its rollout.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPool, buildImageVersions, ensureZfsFuse, type TestPool } from '../sandbox/pools.js';
import { makeThrowawayCa } from '../sandbox/tls.js';
import { execa } from 'execa';
import { DEVICE_CLI, deviceCli, say, tool } from './processes.js';
import { startDemoFleet, type DemoFleet } from './fleet-server.js';
import { makeDemoDevice } from './device.js';

/** The agent's journal rows of these events so far, as `[journal]` lines (from `upgradectl history --json`). */
async function showJournal(configPath: string, events: readonly string[]): Promise<void> {
  const out = (await execa('node', [DEVICE_CLI, 'history', '--json', '--config', configPath], { timeout: 60_000 })).stdout;
  const rows = (JSON.parse(out) as { entries: { event: string; data: Record<string, unknown> | null }[] }).entries;
  for (const e of rows.filter((r) => events.includes(r.event))) {
    const data = Object.entries(e.data ?? {}).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ');
    say(`   [journal] ${e.event}  ${data}`);
  }
}

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  const dir = mkdtempSync(join(tmpdir(), 'upgrade-agent-demo-'));
  const pools: TestPool[] = [];
  let server: DemoFleet | null = null;
  try {
    say(`== sandbox in ${dir}`);
    await ensureZfsFuse();

    say('== publisher: three image versions in a zfs-fuse pool, signed diffs and manifests');
    const pub = await createPool(dir, 'demopub', 512);
    pools.push(pub);
    const images = await buildImageVersions(pub, { workDir: dir, count: 3, sizeMiB: 64, blobKiB: 4096 });
    const www = join(dir, 'www');
    mkdirSync(www);
    const key = join(dir, 'fleet-key.key');
    await tool(['keygen', '--out', join(dir, 'fleet-key')]);
    const publish = async (version: number, from: number): Promise<void> => {
      await tool(['publish', '--dataset', images.dataset, '--version', String(version), '--from', String(from),
        '--key', key, '--hardware', 'demo-board', '--channel', 'stable', '--out', www, '--label', `demo ${version}`]);
      say(`   published version ${version} (delta from ${from} + full stream)`);
    };
    await publish(2, 1);
    await publish(3, 2);
    // The offline step of diffs on demand: the server's online key may vouch for diffs 1→3 and 2→3 it builds itself.
    mkdirSync(join(dir, 'fleet'));
    await tool(['keygen', '--out', join(dir, 'fleet', 'online')]);
    await tool(['delegate', '--publish-dir', www, '--version', '3', '--key', key, '--online-key', join(dir, 'fleet', 'online.pub'),
      '--bases', '1-2', '--days', '7', '--max-size', String(256 << 20)]);
    say('   delegated version 3: the fleet server may build diffs from bases 1-2 on demand (upgradectl delegate)');

    say('== fleet server: upgradectl serve on https://127.0.0.1 (throwaway CA), builds missing diffs from the publisher\'s dataset');
    mkdirSync(join(dir, 'ca'));
    const ca = await makeThrowawayCa(join(dir, 'ca'));
    server = await startDemoFleet({ dir: join(dir, 'fleet'), publishDir: www, dataset: images.dataset, delegateKeyFile: join(dir, 'fleet', 'online.key'), ca });

    say('== device: its own pool holding image 1 (it missed version 2), a sandbox /host, booted from /images/1.img');
    const dev = await makeDemoDevice({ dir, images, pubKeyFile: join(dir, 'fleet-key.pub'), fleetUrl: server.url, caFile: ca.caFile }, pools);
    const step = async (title: string, args: string[]): Promise<void> => {
      say(`== ${title}`);
      const code = await deviceCli(args, dev.configPath);
      if (code !== 0) throw new Error(`upgradectl ${args.join(' ')} exited ${code}`);
    };

    await server.fleet(['start', '--channel', 'stable', '--hardware', 'demo-board', '--version', '3', '--percent', '100']);
    await step('upgradectl check-in: the fleet offers version 3; no published diff from 1, so the agent asks the server for one', ['check-in']);
    say('== the agent\'s journal: "come back later" (E_RETRY_LATER, the server\'s 202 + Retry-After) while it built 1→3,');
    say('   then the built diff, chosen on demand (the demo\'s device caps every server-given wait at retry.maxDelaySec, 2 s)');
    await showJournal(dev.configPath, ['download:deferred', 'stream-selected']);
    await step('upgradectl apply --now (skip the night window): migrate, arm a one-shot trial, reboot', ['apply', '--now']);
    say(`   [sandbox] power cycle done: Grub booted ${dev.bootedNow()}`);
    await step('upgradectl confirm (the boot-time unit): health checks, then commit', ['confirm']);

    say('== the fleet publishes version 4; its app service is broken');
    await images.addVersion(4);
    await publish(4, 3);
    const started = await server.fleet(['start', '--channel', 'stable', '--hardware', 'demo-board', '--version', '4', '--percent', '25']);
    const id = /#(\d+)/.exec(started)?.[1];
    if (id === undefined) throw new Error(`fleet start answered no rollout id: ${started}`);
    await step('upgradectl check-in: reports image 3 committed; version 4 goes to 25% of the fleet first', ['check-in']);
    await server.fleet(['status']);
    await server.fleet(['widen', '--id', id, '--percent', '100']);
    await step('upgradectl check-in (version 4 now for every device)', ['check-in']);
    await step('upgradectl apply --now', ['apply', '--now']);
    say(`   [sandbox] power cycle done: Grub booted ${dev.bootedNow()}`);
    writeFileSync(dev.check, '#!/bin/sh\necho "app: database service failed to start" >&2\nexit 1\n', { mode: 0o755 });
    await step('upgradectl confirm: the health check fails, the agent reboots', ['confirm']);
    say(`   [sandbox] power cycle done: the trial was consumed, Grub booted ${dev.bootedNow()}`);
    await step('upgradectl confirm (next boot): the fallback is recorded', ['confirm']);
    await step('upgradectl check-in: reports the rollback of 4', ['check-in']);
    await server.fleet(['status']);
    await step('upgradectl status', ['status']);
  } finally {
    await server?.stop();
    for (const p of pools.reverse()) await p.destroy().catch((err: unknown) => say(`cleanup: ${(err as Error).message}`));
    if (keep) say(`== kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
