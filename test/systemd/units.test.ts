// The systemd units pass the real `systemd-analyze verify` (with ExecStart pointed at the built CLI).
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

const UNITS_DIR = join(process.cwd(), 'systemd');
const CLI = join(process.cwd(), 'dist/src/cli/upgradectl.js');

describe('systemd units', () => {
  const units = readdirSync(UNITS_DIR).filter((f) => f.endsWith('.service'));

  it('ship the daemon and the boot-time confirmation', () => {
    expect(units.sort()).toEqual(['upgrade-agent-confirm.service', 'upgrade-agent.service']);
    const confirm = readFileSync(join(UNITS_DIR, 'upgrade-agent-confirm.service'), 'utf8');
    expect(confirm).toMatch(/^Before=boot-complete\.target$/m);
    expect(confirm).toMatch(/^RequiredBy=boot-complete\.target$/m);
    expect(confirm).toMatch(/^ExecStart=\/usr\/bin\/upgradectl confirm$/m);
    expect(readFileSync(join(UNITS_DIR, 'upgrade-agent.service'), 'utf8')).toMatch(/^KillMode=control-group$/m);
  });

  it('the daemon is Type=notify with a watchdog, restarted on failure, and runs at low CPU and I/O priority', () => {
    const daemon = readFileSync(join(UNITS_DIR, 'upgrade-agent.service'), 'utf8');
    // NotifyAccess=all: the datagrams come from the agent's long-lived perl child (src/systemd/datagram.ts).
    for (const line of ['Type=notify', 'NotifyAccess=all', 'WatchdogSec=3min', 'Restart=on-failure', 'CPUWeight=20', 'IOWeight=20', 'Nice=10']) {
      expect(daemon).toMatch(new RegExp(`^${line}$`, 'm'));
    }
    // Longer than the confirm unit may hold the runner lock, which the daemon waits for before READY.
    expect(daemon).toMatch(/^TimeoutStartSec=20min$/m);
    expect(readFileSync(join(UNITS_DIR, 'upgrade-agent-confirm.service'), 'utf8')).toMatch(/^TimeoutStartSec=15min$/m);
  });

  it.each(['upgrade-agent.service', 'upgrade-agent-confirm.service'])('%s passes systemd-analyze verify', async (unit) => {
    const dir = mkdtempSync(join(tmpdir(), 'ua-units-'));
    chmodSync(CLI, 0o755);
    for (const u of units) {
      writeFileSync(join(dir, u), readFileSync(join(UNITS_DIR, u), 'utf8').replaceAll('/usr/bin/upgradectl', CLI));
    }
    const r = await execa('systemd-analyze', ['verify', '--man=no', join(dir, unit)], { reject: false, all: true });
    // Lines about units we do not ship (zfs.target on a machine without ZFS, for instance) are not ours to fix.
    const ours = (r.all ?? '').split('\n').filter((l) => l.includes('upgrade-agent'));
    expect(ours).toEqual([]);
    expect(r.exitCode).toBe(0);
  });

  it('the check itself catches a broken unit (control)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ua-units-bad-'));
    const text = readFileSync(join(UNITS_DIR, 'upgrade-agent.service'), 'utf8').replaceAll('/usr/bin/upgradectl', CLI).replace(/^Type=notify$/m, 'Type=bogus');
    writeFileSync(join(dir, 'upgrade-agent.service'), text);
    const r = await execa('systemd-analyze', ['verify', '--man=no', join(dir, 'upgrade-agent.service')], { reject: false, all: true });
    expect((r.all ?? '').split('\n').filter((l) => l.includes('upgrade-agent'))).not.toEqual([]);
  });
});
