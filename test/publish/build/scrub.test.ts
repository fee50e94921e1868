// The scrub list: its format, the built-in entries, and a walk that never follows a symlink out of the image.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseScrubList, scrub, scrubRules } from '../../../src/publish/build/scrub.js';
import { UpgradeError } from '../../../src/errors.js';

let dir: string;
let root: string;
const put = (p: string, data = 'x\n'): void => {
  mkdirSync(dirname(join(root, p)), { recursive: true });
  writeFileSync(join(root, p), data);
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uab-scrub-'));
  root = join(dir, 'root');
  mkdirSync(root);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('parseScrubList', () => {
  it('reads PATTERN and empty PATTERN lines, skipping comments and blanks', () => {
    const rules = parseScrubList('# ours\n/var/cache/app/*\n\nempty /etc/app/id  # regenerated at boot\nremove /srv/tmp\n', 'list');
    expect(rules.map((r) => [r.action, r.pattern.source])).toEqual([
      ['remove', '/var/cache/app/*'],
      ['empty', '/etc/app/id'],
      ['remove', '/srv/tmp'],
    ]);
  });

  it.each([['relative/path'], ['/a/../etc'], ['truncate /etc/x'], ['/'], ['empty']])('refuses %j with E_BUILD_SCRUB naming the line', (line) => {
    let err: unknown;
    try {
      parseScrubList(`/ok\n${line}\n`, 'my.list');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UpgradeError);
    expect((err as UpgradeError).code).toBe('E_BUILD_SCRUB');
    expect((err as UpgradeError).message).toContain('my.list:2');
  });

  it('a list file that cannot be read is E_BUILD_SCRUB', () => {
    expect(() => scrubRules([join(dir, 'missing.list')])).toThrow(expect.objectContaining({ code: 'E_BUILD_SCRUB' }));
  });
});

describe('scrub', () => {
  it('applies the built-in list: machine-id emptied, host keys, net rules, leases, random seed gone; the rest kept', async () => {
    put('/etc/machine-id', 'abc\n');
    put('/var/lib/dbus/machine-id', 'abc\n');
    put('/etc/ssh/ssh_host_rsa_key');
    put('/etc/ssh/ssh_host_rsa_key.pub');
    put('/etc/ssh/sshd_config');
    put('/etc/udev/rules.d/70-persistent-net.rules');
    put('/etc/udev/rules.d/99-local.rules');
    put('/var/lib/dhcp/dhclient.eth0.leases');
    put('/var/lib/NetworkManager/internal-1.lease');
    put('/var/lib/systemd/random-seed');
    const changed = await scrub(root, scrubRules([]));
    expect(changed.sort()).toEqual([
      '/etc/machine-id',
      '/etc/ssh/ssh_host_rsa_key',
      '/etc/ssh/ssh_host_rsa_key.pub',
      '/etc/udev/rules.d/70-persistent-net.rules',
      '/var/lib/NetworkManager/internal-1.lease',
      '/var/lib/dbus/machine-id',
      '/var/lib/dhcp/dhclient.eth0.leases',
      '/var/lib/systemd/random-seed',
    ]);
    expect(statSync(join(root, 'etc/machine-id')).size).toBe(0);
    expect(existsSync(join(root, 'etc/ssh/sshd_config'))).toBe(true);
    expect(existsSync(join(root, 'etc/udev/rules.d/99-local.rules'))).toBe(true);
    expect(await scrub(root, scrubRules([]))).toEqual([]); // twice is a no-op
  });

  it("adds the publisher's lists after the built-in one", async () => {
    put('/var/cache/app/a.cache');
    put('/var/cache/app/sub/b.cache');
    put('/etc/app/instance-id', 'i-123\n');
    writeFileSync(join(dir, 'extra.list'), '/var/cache/app/*\nempty /etc/app/instance-id\n');
    await scrub(root, scrubRules([join(dir, 'extra.list')]));
    expect(existsSync(join(root, 'var/cache/app'))).toBe(true);
    expect(existsSync(join(root, 'var/cache/app/a.cache'))).toBe(false);
    expect(existsSync(join(root, 'var/cache/app/sub'))).toBe(false);
    expect(readFileSync(join(root, 'etc/app/instance-id'), 'utf8')).toBe('');
  });

  it('never follows a symlink out of the image: a symlinked /etc/ssh or machine-id leaves the outside alone', async () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'ssh_host_ed25519_key'), 'HOST KEY OF THE BUILD MACHINE\n');
    writeFileSync(join(outside, 'machine-id'), 'build machine id\n');
    mkdirSync(join(root, 'etc'));
    symlinkSync(outside, join(root, 'etc/ssh'));
    symlinkSync(join(outside, 'machine-id'), join(root, 'etc/machine-id'));
    await scrub(root, scrubRules([]));
    expect(readFileSync(join(outside, 'ssh_host_ed25519_key'), 'utf8')).toBe('HOST KEY OF THE BUILD MACHINE\n');
    expect(readFileSync(join(outside, 'machine-id'), 'utf8')).toBe('build machine id\n');
    // The symlinked machine-id became the empty file it must be.
    const st = lstatSync(join(root, 'etc/machine-id'));
    expect([st.isFile(), st.size]).toEqual([true, 0]);
  });
});
