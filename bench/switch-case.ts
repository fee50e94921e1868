// The switch window on a 1 GiB image: stageTrial (pre-flight, migrate, grub.cfg, trial) + sync, as the agent runs it.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { parseConfig } from '../src/config.js';
import { stageTrial } from '../src/core/switch.js';
import { SystemdRebooter } from '../src/adapters/boot.js';
import { wireDevice } from '../src/wiring.js';
import { silentLogger } from '../src/log.js';
import { pseudoRandom, sha256File } from '../src/sandbox/pools.js';
import { fileIdentity } from '../src/util/file-identity.js';

export interface SwitchRow {
  imageMiB: number;
  dataMiB: number;
  migratedFiles: number;
  verified: 'identity' | 'sha256';
  runsSec: number[];
  bestSec: number;
  syncSec: number;
}

const PHASES_TO_READY = ['downloading', 'downloaded', 'importing', 'imported', 'exporting', 'ready'] as const;

/** An OS-like tree: many small files plus some larger ones, a kernel and an initrd behind symlinks. */
function buildRoot(root: string, dataMiB: number): void {
  mkdirSync(join(root, 'boot'), { recursive: true });
  writeFileSync(join(root, 'boot', 'vmlinuz-6.1'), pseudoRandom('k', 8 << 20));
  writeFileSync(join(root, 'boot', 'initrd.img-6.1'), pseudoRandom('i', 16 << 20));
  symlinkSync('boot/vmlinuz-6.1', join(root, 'vmlinuz'));
  symlinkSync('boot/initrd.img-6.1', join(root, 'initrd.img'));
  const files = Math.max(1, Math.floor(((dataMiB - 24) << 20) / (96 << 10)));
  for (let i = 0; i < files; i++) {
    const dir = join(root, 'usr', 'lib', `pkg${i % 64}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `f${i}.so`), pseudoRandom(`f${i}`, 96 << 10));
  }
  mkdirSync(join(root, 'etc', 'app'), { recursive: true });
}

/** What a device carries over: hostname, ~50 app configs, ssh host keys, a 5 MiB state file. */
function buildSource(src: string): { allow: string[]; files: number } {
  mkdirSync(join(src, 'etc', 'app'), { recursive: true });
  mkdirSync(join(src, 'etc', 'ssh'), { recursive: true });
  mkdirSync(join(src, 'var', 'lib', 'app'), { recursive: true });
  writeFileSync(join(src, 'etc', 'hostname'), 'bench-device\n');
  for (let i = 0; i < 50; i++) writeFileSync(join(src, 'etc', 'app', `c${i}.conf`), `key${i}=value\n`.repeat(40));
  for (const t of ['rsa', 'ecdsa', 'ed25519']) writeFileSync(join(src, 'etc', 'ssh', `ssh_host_${t}_key`), pseudoRandom(t, 2048), { mode: 0o600 });
  writeFileSync(join(src, 'var', 'lib', 'app', 'state.db'), pseudoRandom('state', 5 << 20));
  return { allow: ['/etc/hostname', '/etc/app/*.conf', '/etc/ssh/ssh_host_*_key', '/var/lib/app/state.db'], files: 55 };
}

export async function benchSwitch(reps: number, imageMiB = 1024, dataMiB = 240): Promise<SwitchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'upgrade-bench-switch-'));
  try {
    buildRoot(join(dir, 'root'), dataMiB);
    const source = buildSource(join(dir, 'source'));
    const pristine = join(dir, 'pristine-2.img');
    await execa('mkfs.ext4', ['-q', '-F', '-d', join(dir, 'root'), pristine, `${imageMiB}M`]);
    await execa('mkfs.ext4', ['-q', '-F', '-d', join(dir, 'root'), join(dir, 'pristine-1.img'), `${dataMiB + 64}M`]);
    const size = imageMiB << 20;
    const sha256 = sha256File(pristine);
    const rows: SwitchRow[] = [];
    for (const verified of ['identity', 'sha256'] as const) {
      const runs: number[] = [];
      let syncSec = 0;
      for (let r = 0; r < reps; r++) {
        const host = join(dir, `host-${verified}-${r}`);
        mkdirSync(join(host, 'images'), { recursive: true });
        mkdirSync(join(host, 'boot', 'grub'), { recursive: true });
        await execa('cp', ['--sparse=always', pristine, join(host, 'images', '2.img')]);
        copyFileSync(join(dir, 'pristine-1.img'), join(host, 'images', '1.img'));
        writeFileSync(join(dir, 'cmdline'), 'root=/dev/sda1 ua.image=/images/1.img panic=10\n');
        writeFileSync(join(dir, 'boot_id'), `${r}\n`);
        const config = parseConfig({
          deviceId: 'bench', hardware: 'bench', zfs: { pool: 'unused' }, paths: { hostRoot: host },
          boot: { cmdlineFile: join(dir, 'cmdline'), bootIdFile: join(dir, 'boot_id') },
          migrate: { sourceRoot: join(dir, 'source'), allow: source.allow, runtimeDir: join(dir, 'run') },
        });
        // The real wiring, but a rebooter that is never asked (the bench stops at staged).
        const wired = wireDevice(config, { log: silentLogger(), rebooter: () => new SystemdRebooter('false') });
        const { store } = wired.device;
        store.recordCommittedVersion(1);
        const d = store.create({ version: 2, label: 'bench', manifestUrl: null, envelope: Buffer.from('{}'), payloadSha256: 'x', imageSize: size, imageSha256: sha256 });
        for (const p of PHASES_TO_READY) store.transition(d.id, p);
        if (verified === 'identity') store.setVerifiedImage(2, fileIdentity(join(host, 'images', '2.img')));
        await execa('sync');
        const t0 = performance.now();
        const staged = await stageTrial(wired.device, d.id).finally(() => wired.close());
        const t1 = performance.now();
        await execa('sync');
        const t2 = performance.now();
        if (staged.phase !== 'staged') throw new Error(`bench: expected staged, got ${staged.phase}`);
        runs.push((t2 - t0) / 1000);
        syncSec = Math.max(syncSec, (t2 - t1) / 1000);
        rmSync(host, { recursive: true, force: true });
      }
      rows.push({ imageMiB, dataMiB, migratedFiles: source.files, verified, runsSec: runs, bestSec: Math.min(...runs), syncSec });
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function renderSwitch(rows: SwitchRow[]): string {
  const lines = [
    'Switch window: stageTrial (pre-flight incl. boot files and room, migrate with e2fsck -fn, grub.cfg, trial armed) + sync, excluding the reboot. goal ≤ 1 s',
    '| image MiB | data MiB | migrated files | image check | best s | runs s | final sync s (max) |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.imageMiB} | ${r.dataMiB} | ${r.migratedFiles} | ${r.verified === 'identity' ? 'unchanged since export (stat)' : 'full sha256'} | ${r.bestSec.toFixed(2)} | ${r.runsSec.map((x) => x.toFixed(2)).join(', ')} | ${r.syncSec.toFixed(2)} |`),
  ];
  return lines.join('\n');
}
