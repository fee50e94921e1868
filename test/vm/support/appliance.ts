// The e2e appliance's root tree: the cached Debian root with the agent installed from its .deb, as the README says.
import { chmodSync, copyFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { execa } from 'execa';

export const POOL = 'uae2e';
export const FLEET_PORT = 8443;
/** A config file that the scenarios change on the running image: the migration must carry it over. */
export const SITE_CONF = '/etc/e2e/site.conf';
/** A bigger migrated file, rewritten before a switch so that migration takes long enough to cut power during it. */
export const DATA_FILE = '/var/lib/e2e/data.bin';

/** The appliance's /etc/fstab: the fleet's disk (read-only images add tmpfs mounts to it). */
export const FSTAB = '/dev/vdc /srv/fleet ext4 ro,nofail 0 0\n';

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
 * Extracts the root tar into `dir` and installs the agent from its packages, as the README says: one
 * `apt-get install ./upgrade-agent_….deb ./upgrade-agent-node_….deb` in the tree (chroot, policy-rc.d keeping services
 * from starting), whose maintainer scripts enable the units and whose trigger builds the initrd with our hooks. The guest
 * is Debian 12, whose nodejs is 18: upgrade-agent-node brings the build machine's Node.js (/usr/bin/node is linked to it
 * for the e2e helpers only). Then the e2e helpers (fleet server, pool import, reporter, health check) and the config.
 */
export async function buildApplianceTree(opts: {
  rootTar: string;
  dir: string;
  projectDir: string;
  debs: string[];
  key: { keyid: string; publicKey: string };
}): Promise<ApplianceTree> {
  const { dir, projectDir } = opts;
  const at = (p: string) => join(dir, p);
  mkdirSync(dir, { recursive: true });
  await sh('tar', ['-C', dir, '--numeric-owner', '-xpf', opts.rootTar]);
  const kernelVersion = (await sh('ls', [at('lib/modules')])).stdout.trim();

  await installPackages(dir, opts.debs);
  symlinkSync('/usr/lib/upgrade-agent/node/bin/node', at('usr/bin/node'));

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
  // The agent's own units were enabled by the package's postinst.
  await sh('systemctl', ['--root', dir, 'enable', 'e2e-fleet.service', 'e2e-pool.service', 'e2e-prepare.service', 'e2e-reporter.service']);
  // serial-getty on the console port hangs up the tty mid-output; nobody logs in here.
  await sh('systemctl', ['--root', dir, 'mask', 'serial-getty@ttyS0.service', 'getty@tty1.service']);

  mkdirSync(at('etc/upgrade-agent'), { recursive: true });
  writeFileSync(at('etc/upgrade-agent/config.json'), JSON.stringify(guestConfig(opts.key), null, 2));
  mkdirSync(at('host'), { recursive: true });
  // The pool's root dataset mounts at /uae2e when it is imported at boot: a read-only root cannot create the directory.
  mkdirSync(at(POOL), { recursive: true });
  mkdirSync(at('etc/e2e-vdev'), { recursive: true });
  symlinkSync('/dev/vdb', at('etc/e2e-vdev/vdb'));
  mkdirSync(at('srv/fleet'), { recursive: true });
  mkdirSync(at('etc/e2e'), { recursive: true });
  mkdirSync(at('var/lib/e2e'), { recursive: true });
  writeFileSync(at(SITE_CONF.slice(1)), 'site=factory\n');
  writeFileSync(at(DATA_FILE.slice(1)), Buffer.alloc(0));
  writeFileSync(at('etc/e2e/image-version'), '1\n');
  writeFileSync(at('etc/fstab'), FSTAB);
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

/** `apt-get install ./<deb>...` inside the tree, with /proc and /dev for update-initramfs; nothing is fetched. */
async function installPackages(dir: string, debs: string[]): Promise<void> {
  const policy = join(dir, 'usr/sbin/policy-rc.d');
  writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  const names = debs.map((d) => {
    copyFileSync(d, join(dir, 'tmp', basename(d)));
    return `./${basename(d)}`;
  });
  await sh('mount', ['-t', 'proc', 'proc', join(dir, 'proc')]);
  await sh('mount', ['--bind', '/dev', join(dir, 'dev')]);
  try {
    const r = await execa('chroot', [dir, 'sh', '-c', `cd /tmp && apt-get install -y --no-install-recommends ${names.join(' ')}`], {
      env: { DEBIAN_FRONTEND: 'noninteractive', PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C.UTF-8' }, all: true, reject: false,
    });
    if (r.exitCode !== 0) throw new Error(`apt-get install in the appliance tree exited ${r.exitCode}:\n${r.all?.slice(-4000)}`);
    if (!/update-initramfs: Generating/.test(r.all ?? '')) throw new Error(`the package's trigger built no initrd:\n${r.all?.slice(-4000)}`);
  } finally {
    await execa('umount', ['-l', join(dir, 'dev')], { reject: false });
    await execa('umount', ['-l', join(dir, 'proc')], { reject: false });
    rmSync(policy, { force: true });
    for (const n of names) rmSync(join(dir, 'tmp', n.slice(2)), { force: true });
  }
}
