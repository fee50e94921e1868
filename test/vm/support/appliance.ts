// The e2e appliance's root tree: the cached Debian root plus Node, the built agent and its units, installed as the README says.
import { chmodSync, copyFileSync, cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

export const POOL = 'uae2e';
export const FLEET_PORT = 8443;
/** A config file that the scenarios change on the running image: the migration must carry it over. */
export const SITE_CONF = '/etc/e2e/site.conf';
/** A bigger migrated file, rewritten before a switch so that migration takes long enough to cut power during it. */
export const DATA_FILE = '/var/lib/e2e/data.bin';

export interface ApplianceTree {
  dir: string;
  kernelVersion: string;
}

const sh = (cmd: string, args: string[], cwd?: string) => execa(cmd, args, cwd === undefined ? {} : { cwd });

/** The agent's config inside the guest. Trust: the publisher key made for this run. */
export function guestConfig(key: { keyid: string; publicKey: string }): object {
  return {
    deviceId: 'vm-1',
    hardware: 'e2e-x86',
    channel: 'stable',
    paths: { hostRoot: '/host' },
    zfs: { pool: POOL, dataset: 'images' },
    fleet: { url: `https://127.0.0.1:${FLEET_PORT}`, caFile: '/srv/fleet/tls/ca.pem', checkinIntervalSec: 20, jitterSec: 0, backoffMaxSec: 20 },
    trust: { keys: [key] },
    download: { retryLaterMaxSec: 10 },
    space: { reserveBytes: 16 << 20, keepImages: 2 },
    // `rw`: the images run read-write and config is migrated between them (as in the original design); console on ttyS0.
    boot: { kernelRoot: '/dev/vda1', grubRootDevice: '(hd0,msdos1)', panicSec: 5, extraArgs: 'rw console=ttyS0' },
    health: { systemd: true, units: ['zfs-fuse.service', 'e2e-fleet.service'], required: ['/usr/lib/e2e/health-check'], deadlineSec: 120 },
    migrate: { allow: [SITE_CONF, DATA_FILE] },
    // Always open, never too busy: the scenarios decide when a switch happens by when a target is offered.
    window: { cron: '* * * * *', durationMin: 1440, idle: { maxLoad: 1000, systemdInhibitors: false } },
    logLevel: 'info',
  };
}

/**
 * Extracts the root tar into `dir` and installs: Node (the host's binary: same Debian release and glibc), the built
 * project with production node_modules under /opt/upgrade-agent, /usr/bin/upgradectl, the agent's units enabled with
 * systemctl, the e2e helpers (fleet server, pool import, reporter, health check), and the config.
 */
export async function buildApplianceTree(opts: {
  rootTar: string;
  dir: string;
  projectDir: string;
  nodeModulesDir: string;
  key: { keyid: string; publicKey: string };
}): Promise<ApplianceTree> {
  const { dir, projectDir } = opts;
  const at = (p: string) => join(dir, p);
  mkdirSync(dir, { recursive: true });
  await sh('tar', ['-C', dir, '--numeric-owner', '-xpf', opts.rootTar]);
  const kernelVersion = (await sh('ls', [at('lib/modules')])).stdout.trim();

  copyFileSync(process.execPath, at('usr/bin/node'));
  chmodSync(at('usr/bin/node'), 0o755);
  const opt = at('opt/upgrade-agent');
  mkdirSync(opt, { recursive: true });
  cpSync(join(projectDir, 'dist'), join(opt, 'dist'), { recursive: true });
  cpSync(opts.nodeModulesDir, join(opt, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  copyFileSync(join(projectDir, 'package.json'), join(opt, 'package.json'));
  symlinkSync('/opt/upgrade-agent/dist/src/cli/upgradectl.js', at('usr/bin/upgradectl'));
  mkdirSync(at('usr/share/doc/upgrade-agent'), { recursive: true });
  copyFileSync(join(projectDir, 'README.md'), at('usr/share/doc/upgrade-agent/README.md'));

  for (const unit of ['upgrade-agent.service', 'upgrade-agent-confirm.service']) {
    copyFileSync(join(projectDir, 'systemd', unit), at(`etc/systemd/system/${unit}`));
  }
  const guest = join(projectDir, 'test/vm/guest');
  mkdirSync(at('usr/lib/e2e'), { recursive: true });
  for (const f of ['reporter.mjs', 'prepare.mjs', 'fleet.mjs', 'health-check', 'import-pool']) {
    copyFileSync(join(guest, f), at(`usr/lib/e2e/${f}`));
    chmodSync(at(`usr/lib/e2e/${f}`), 0o755);
  }
  for (const unit of ['e2e-fleet.service', 'e2e-pool.service', 'e2e-prepare.service', 'e2e-reporter.service']) {
    copyFileSync(join(guest, 'units', unit), at(`etc/systemd/system/${unit}`));
  }
  // The e2e boots may give the agent an environment for one boot (a crash point): e2e-prepare writes it before they start.
  for (const unit of ['upgrade-agent.service', 'upgrade-agent-confirm.service']) {
    mkdirSync(at(`etc/systemd/system/${unit}.d`), { recursive: true });
    writeFileSync(at(`etc/systemd/system/${unit}.d/e2e-env.conf`), '[Service]\nEnvironmentFile=-/run/e2e/agent.env\n');
  }
  await sh('systemctl', ['--root', dir, 'enable', 'upgrade-agent.service', 'upgrade-agent-confirm.service',
    'e2e-fleet.service', 'e2e-pool.service', 'e2e-prepare.service', 'e2e-reporter.service']);
  // serial-getty on the console port hangs up the tty mid-output; nobody logs in here.
  await sh('systemctl', ['--root', dir, 'mask', 'serial-getty@ttyS0.service', 'getty@tty1.service']);

  mkdirSync(at('etc/upgrade-agent'), { recursive: true });
  writeFileSync(at('etc/upgrade-agent/config.json'), JSON.stringify(guestConfig(opts.key), null, 2));
  mkdirSync(at('host'), { recursive: true });
  mkdirSync(at('etc/e2e-vdev'), { recursive: true });
  symlinkSync('/dev/vdb', at('etc/e2e-vdev/vdb'));
  mkdirSync(at('srv/fleet'), { recursive: true });
  mkdirSync(at('etc/e2e'), { recursive: true });
  mkdirSync(at('var/lib/e2e'), { recursive: true });
  writeFileSync(at(SITE_CONF.slice(1)), 'site=factory\n');
  writeFileSync(at(DATA_FILE.slice(1)), Buffer.alloc(0));
  writeFileSync(at('etc/e2e/image-version'), '1\n');
  writeFileSync(at('etc/fstab'), '/dev/vdc /srv/fleet ext4 ro,nofail 0 0\n');
  writeFileSync(at('etc/hostname'), 'appliance\n');
  // The journal on the console too: a failing scenario prints the agent's own log lines with the boot.
  mkdirSync(at('etc/systemd/journald.conf.d'), { recursive: true });
  writeFileSync(at('etc/systemd/journald.conf.d/e2e-console.conf'), '[Journal]\nForwardToConsole=yes\nTTYPath=/dev/ttyS0\nMaxLevelConsole=info\n');
  writeFileSync(at('etc/machine-id'), `${'e2e0'.repeat(8)}\n`);
  // One hostid in every image: the pool was last imported by the image that ran before, and ZFS refuses (without -f)
  // a pool that another host id left imported. An appliance whose images each carry /etc must fix its hostid too.
  writeFileSync(at('etc/hostid'), Buffer.from([0x01, 0x00, 0xe0, 0xe2]));
  return { dir, kernelVersion };
}

/** Production dependencies only: a copy of the project's node_modules pruned by npm (no network needed). */
export async function productionNodeModules(projectDir: string, workDir: string): Promise<string> {
  const dir = join(workDir, 'prod');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(projectDir, 'package.json'), join(dir, 'package.json'));
  copyFileSync(join(projectDir, 'package-lock.json'), join(dir, 'package-lock.json'));
  cpSync(join(projectDir, 'node_modules'), join(dir, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  await execa('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund'], { cwd: dir });
  return join(dir, 'node_modules');
}
