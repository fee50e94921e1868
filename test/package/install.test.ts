// The .deb installs on minimal Debian 12 and 13 chroots with one apt-get step, upgradectl runs there, and purge leaves nothing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ensurePackages, type Packages } from './support/packages.js';
import { chrootTar, openChroot, type Chroot, type Suite } from './support/debian-chroot.js';

const projectDir = process.cwd();
const log = (s: string) => console.log(`install: ${s}`);
let pkgs: Packages;
beforeAll(async () => { pkgs = await ensurePackages(projectDir, log); });

/** Every file the package ships (dpkg-deb -c), as absolute paths. */
async function shipped(deb: string): Promise<string[]> {
  const r = await execa('dpkg-deb', ['-c', deb]);
  return r.stdout.split('\n').map((l) => l.split(/\s+/).slice(5).join(' ').replace(/^\./, '').replace(/ -> .*$/, '')).filter((p) => p !== '' && !p.endsWith('/'));
}

const CASES: { suite: Suite; debian: string; node: string; runtime: 'nodejs' | 'upgrade-agent-node' }[] = [
  { suite: 'trixie', debian: '13', node: '/usr/bin/node', runtime: 'nodejs' },
  { suite: 'bookworm', debian: '12', node: '/usr/lib/upgrade-agent/node/bin/node', runtime: 'upgrade-agent-node' },
];

describe.each(CASES)('Debian $debian ($suite)', ({ suite, node, runtime }) => {
  let c: Chroot;
  let files: string[];
  const t: Record<string, number> = {};
  beforeAll(async () => {
    let t0 = Date.now();
    const tar = await chrootTar(projectDir, suite, log);
    t['chroot'] = (Date.now() - t0) / 1000;
    c = await openChroot(tar);
    files = await shipped(pkgs.agent);
    t0 = Date.now();
    const update = await c.sh('apt-get update -qq');
    expect(update.exitCode, update.all).toBe(0);
    t['apt-update'] = (Date.now() - t0) / 1000;
  });
  afterAll(async () => {
    log(`${suite}: seconds ${JSON.stringify(t)}`);
    await c?.close();
  });

  it(`installs with one apt-get step, Node from ${runtime}`, async () => {
    const debs = runtime === 'nodejs' ? [c.copyIn(pkgs.agent)] : [c.copyIn(pkgs.agent), c.copyIn(pkgs.node)];
    const t0 = Date.now();
    const r = await c.sh(`cd /tmp && apt-get install -y --no-install-recommends ${debs.map((d) => `./${d.slice(5)}`).join(' ')}`);
    t['install'] = (Date.now() - t0) / 1000;
    expect(r.exitCode, r.all).toBe(0);
    // The initramfs is rebuilt through initramfs-tools' trigger (with no kernel in a chroot it has nothing to build).
    expect(r.all).toMatch(/Processing triggers for initramfs-tools/);
    const status = await c.sh(`dpkg-query -W -f='\${Status} \${Version}\\n' upgrade-agent ${runtime}`);
    expect(status.stdout.split('\n').every((l) => l.startsWith('install ok installed')), status.all).toBe(true);
    expect((await c.sh(`dpkg-query -S ${node}`)).stdout).toMatch(new RegExp(`^${runtime}:`));
    if (runtime === 'upgrade-agent-node') expect(existsSync(join(c.dir, 'usr/bin/node'))).toBe(false);
  });

  it('puts every file where the README says, and enables both units', () => {
    for (const f of ['/usr/bin/upgradectl', '/usr/lib/upgrade-agent/dist/src/cli/upgradectl.js', '/usr/lib/systemd/system/upgrade-agent.service',
      '/usr/lib/systemd/system/upgrade-agent-confirm.service', '/usr/lib/systemd/catalog/upgrade-agent.catalog',
      '/usr/share/initramfs-tools/hooks/upgrade-agent', '/usr/share/initramfs-tools/scripts/local-bottom/upgrade-agent',
      '/usr/share/upgrade-agent/grub.d/09_upgrade_agent', '/usr/share/doc/upgrade-agent/examples/config.json', '/usr/share/man/man1/upgradectl.1.gz']) {
      expect(files, f).toContain(f);
      expect(existsSync(join(c.dir, f)), f).toBe(true);
    }
    expect(files.some((f) => f.endsWith('/better_sqlite3.node'))).toBe(true);
    expect(lstatSync(join(c.dir, 'usr/share/initramfs-tools/hooks/upgrade-agent')).mode & 0o111).not.toBe(0);
    // deb-systemd-helper links to /lib/systemd/system on Debian 12 (merged /usr: the same file), /usr/lib on 13.
    expect(readlinkSync(join(c.dir, 'etc/systemd/system/multi-user.target.wants/upgrade-agent.service'))).toMatch(/^(\/usr)?\/lib\/systemd\/system\/upgrade-agent\.service$/);
    expect(readlinkSync(join(c.dir, 'etc/systemd/system/boot-complete.target.requires/upgrade-agent-confirm.service')))
      .toMatch(/^(\/usr)?\/lib\/systemd\/system\/upgrade-agent-confirm\.service$/);
  });

  it(`upgradectl --help runs on ${node}, and the native SQLite addon loads`, async () => {
    const help = await c.sh('upgradectl --help');
    expect(help.exitCode, help.all).toBe(0);
    expect(help.stdout).toMatch(/^usage: upgradectl/);
    const v = await c.sh(`${node} -p process.versions.node`);
    const [maj, min] = v.stdout.split('.').map(Number);
    expect(maj! > 20 || (maj === 20 && min! >= 19), v.stdout).toBe(true);
    const sqlite = await c.sh(`${node} -e "const D = require('/usr/lib/upgrade-agent/node_modules/better-sqlite3'); console.log(new D(':memory:').prepare('select 1 + 1 as n').get().n)"`);
    expect(sqlite.stdout, sqlite.all).toBe('2');
  });

  it('remove takes the files away; purge leaves nothing of the package', async () => {
    const pkgsToGo = runtime === 'nodejs' ? 'upgrade-agent' : 'upgrade-agent upgrade-agent-node';
    const rm = await c.sh(`apt-get remove -y ${pkgsToGo}`);
    expect(rm.exitCode, rm.all).toBe(0);
    for (const f of files) expect(existsSync(join(c.dir, f)), f).toBe(false);
    expect(existsSync(join(c.dir, 'usr/lib/upgrade-agent'))).toBe(false);
    const purge = await c.sh(`apt-get purge -y ${pkgsToGo}`);
    expect(purge.exitCode, purge.all).toBe(0);
    expect((await c.sh(`dpkg-query -W -f='\${db:Status-Abbrev}' upgrade-agent`)).stdout.trim()).not.toMatch(/^i|^r|^c/);
    const left = await c.sh("find / -xdev \\( -path /proc -o -path /dev -o -path /tmp -o -path /var/log \\) -prune -o -name '*upgrade-agent*' -print -o -name '*upgradectl*' -print");
    expect(left.stdout.split('\n').filter(Boolean)).toEqual([]);
  });
});
