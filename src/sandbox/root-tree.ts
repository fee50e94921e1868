// Synthetic root trees for image builds (tests, benchmarks): bootable, agent-carrying, with every file kind rsync keeps.
import { execFileSync } from 'node:child_process';
import { chownSync, linkSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pseudoRandom } from './pools.js';

export interface TreeOptions {
  /** Which release: each one changes two app files, adds one and deletes one against the one before. */
  release: number;
  /** Number of 64 KiB app files (incompressible, so sizes show through xz). */
  files?: number;
  kernel?: boolean;
  agent?: boolean;
}

function put(root: string, path: string, data: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), data, { mode });
}

const DPKG = (release: number): string =>
  [
    ['base-files', '12.4'],
    ['libc6', `2.36-9+deb12u${release}`],
    ['upgrade-agent', '1.0.0'],
  ]
    .map(([p, v]) => `Package: ${p}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${v}\n`)
    .join('\n') + '\nPackage: removed-one\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n';

/** Writes the tree of `release` at `root` (emptied first). */
export function makeTree(root: string, o: TreeOptions): string {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const r = o.release;
  if (o.kernel !== false) {
    put(root, '/boot/vmlinuz-6.1.0', pseudoRandom('kernel', 128 * 1024));
    put(root, '/boot/initrd.img-6.1.0', pseudoRandom('initrd', 128 * 1024));
    symlinkSync('boot/vmlinuz-6.1.0', join(root, 'vmlinuz'));
    symlinkSync('boot/initrd.img-6.1.0', join(root, 'initrd.img'));
  }
  // Merged /usr, as Debian lays it out: /lib → usr/lib.
  mkdirSync(join(root, 'usr/lib/systemd/system'), { recursive: true });
  symlinkSync('usr/lib', join(root, 'lib'));
  if (o.agent !== false) {
    put(root, '/usr/bin/upgradectl', '#!/bin/sh\nexec node /usr/lib/upgrade-agent/dist/src/cli/upgradectl.js "$@"\n', 0o755);
    put(root, '/usr/lib/systemd/system/upgrade-agent.service', '[Service]\nType=notify\n');
    put(root, '/usr/lib/systemd/system/upgrade-agent-confirm.service', '[Service]\nType=oneshot\n');
  }
  put(root, '/var/lib/dpkg/status', DPKG(r));
  put(root, '/etc/version', `release ${r}\n`);
  const n = o.files ?? 40;
  for (let i = 0; i < n; i++) {
    // Release r rewrites files r and r+1 and has file n+r in place of file r-1 (so one is added, one deleted).
    if (i === r - 1 && r > 1) continue;
    const gen = i === r || i === r + 1 ? r : 0;
    put(root, `/usr/lib/app/part-${String(i).padStart(3, '0')}.bin`, pseudoRandom(`app-${i}-${gen}`, 64 * 1024));
  }
  put(root, `/usr/lib/app/new-${r}.bin`, pseudoRandom(`new-${r}`, 64 * 1024));
  // Hard links, ownership, modes, an mtime, an xattr, a device node.
  put(root, '/usr/bin/tool-a', pseudoRandom('tool', 8192), 0o755);
  linkSync(join(root, 'usr/bin/tool-a'), join(root, 'usr/bin/tool-b'));
  put(root, '/srv/data/secret', 'owned by 1234\n', 0o640);
  chownSync(join(root, 'srv/data/secret'), 1234, 5678);
  utimesSync(join(root, 'srv/data/secret'), 1_600_000_000, 1_600_000_000);
  execFileSync('setfattr', ['-n', 'user.origin', '-v', 'tree', join(root, 'srv/data/secret')]);
  mkdirSync(join(root, 'dev'), { recursive: true });
  execFileSync('mknod', ['-m', '0666', join(root, 'dev/null'), 'c', '1', '3']);
  // Per-machine state the build must scrub, beside what it must keep.
  put(root, '/etc/machine-id', '0123456789abcdef0123456789abcdef\n', 0o444);
  put(root, '/etc/ssh/ssh_host_ed25519_key', 'PRIVATE\n', 0o600);
  put(root, '/etc/ssh/ssh_host_ed25519_key.pub', 'PUBLIC\n');
  put(root, '/etc/ssh/sshd_config', 'PermitRootLogin no\n');
  put(root, '/etc/udev/rules.d/70-persistent-net.rules', 'SUBSYSTEM=="net", NAME="eth0"\n');
  put(root, '/var/lib/dhcp/dhclient.eth0.leases', 'lease {}\n');
  mkdirSync(join(root, 'host'), { recursive: true });
  return root;
}
