// Idle probes: fixed and real load, real shell commands with timeouts, systemd-inhibit parsing and its absence.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  blockingInhibitors,
  busyCommandProbe,
  idleProbesFrom,
  inhibitorProbe,
  loadProbe,
  parseInhibitors,
  runIdleProbes,
  type IdleProbe,
} from '../../src/adapters/idle-probes.js';

// `systemd-inhibit --list --no-legend --no-pager` on a desktop (systemd 252-ish table layout): WHO and WHY
// have spaces, COMM is truncated to 15 chars, and `systemd-inhibit --what=shutdown sleep 600` shows up with
// WHO "sleep 600" and COMM "sleep".
const DESKTOP = [
  'ModemManager                 0    root  943  ModemManager    sleep                                                    ModemManager needs to reset devices                       delay',
  'NetworkManager               0    root  1041 NetworkManager  sleep                                                    NetworkManager needs to turn off networks                 delay',
  'UPower                       0    root  1398 upowerd         sleep                                                    Pause device polling                                      delay',
  'Unattended Upgrades Shutdown 0    root  1250 unattended-upgr shutdown                                                 Stop ongoing upgrades or perform upgrades before shutdown delay',
  'GNOME Shell                  1000 alice 2346 gnome-shell     sleep                                                    GNOME needs to lock the screen                            delay',
  'alice                        1000 alice 2510 gsd-media-keys  handle-power-key:handle-suspend-key:handle-hibernate-key GNOME handling keypresses                                block',
  'sleep 600                    0    root  4242 sleep           shutdown                                                 Unknown reason                                            block',
  'Backup job                   0    root  7777 sh              idle:sleep:shutdown                                      Nightly backup…                                           block-weak',
  '',
].join('\n');

describe('parseInhibitors', () => {
  it('reads every row of a realistic table', () => {
    const list = parseInhibitors(DESKTOP);
    expect(list).toHaveLength(8);
    expect(list[3]).toEqual({
      who: 'Unattended Upgrades Shutdown',
      uid: 0,
      user: 'root',
      pid: 1250,
      comm: 'unattended-upgr',
      what: ['shutdown'],
      why: 'Stop ongoing upgrades or perform upgrades before shutdown',
      mode: 'delay',
    });
    expect(list[6]).toMatchObject({ who: 'sleep 600', uid: 0, pid: 4242, comm: 'sleep', what: ['shutdown'], why: 'Unknown reason', mode: 'block' });
    expect(list[5]?.what).toEqual(['handle-power-key', 'handle-suspend-key', 'handle-hibernate-key']);
  });

  it('only block locks on shutdown stop a reboot', () => {
    expect(blockingInhibitors(parseInhibitors(DESKTOP)).map((i) => i.pid)).toEqual([4242, 7777]);
  });

  it('nothing listed, legends and foreign lines give no locks', () => {
    expect(parseInhibitors('')).toEqual([]);
    expect(parseInhibitors('No inhibitors.\n')).toEqual([]);
    expect(parseInhibitors('WHO UID USER PID COMM WHAT WHY MODE\n\n3 inhibitors listed.\n')).toEqual([]);
    expect(parseInhibitors('     Who: x (UID 0/root, PID 1/init)\n    What: shutdown\n    Mode: block\n')).toEqual([]);
  });
});

describe('load probe', () => {
  it('compares the 1-minute load with the threshold', async () => {
    expect(await loadProbe(2, () => [0.5, 3, 3]).check()).toEqual({ busy: false });
    expect(await loadProbe(2, () => [2, 0, 0]).check()).toEqual({ busy: false });
    expect(await loadProbe(2, () => [3.2, 1, 1]).check()).toEqual({ busy: true, reason: 'load 3.20 > 2' });
  });

  it('reads the real load average', async () => {
    expect(await loadProbe(1e9).check()).toEqual({ busy: false });
    expect((await loadProbe(-1).check()).busy).toBe(true); // any real load, even 0, is above -1
  });
});

describe('busy-command probe', () => {
  it('exit 0 is busy, non-zero is idle', async () => {
    expect(await busyCommandProbe('true', 5000).check()).toEqual({ busy: true, reason: 'command reports busy (exit 0)' });
    expect(await busyCommandProbe('false', 5000).check()).toEqual({ busy: false });
    expect(await busyCommandProbe('exit 3', 5000).check()).toEqual({ busy: false });
  });

  it('a command that hangs is busy, and is killed with everything it started', async () => {
    for (const cmd of ['sleep 5', 'sleep 5.101; true', 'sleep 5.102 & wait']) {
      const started = Date.now();
      expect(await busyCommandProbe(cmd, 200).check()).toEqual({ busy: true, reason: 'probe timed out' });
      expect(Date.now() - started).toBeLessThan(2000);
    }
    await new Promise((r) => setTimeout(r, 100)); // SIGKILL delivery to the group is asynchronous
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => /sleep 5\.10[12]/.test(l));
    expect(left).toEqual([]);
  });
});

describe('inhibitor probe', () => {
  let dir: string;
  const script = (name: string, body: string): string => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'inhibit-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('tool missing: idle, noting no systemd', async () => {
    const r = await inhibitorProbe(2000, join(dir, 'no-such-systemd-inhibit')).check();
    expect(r.busy).toBe(false);
    expect(r.reason).toMatch(/^no systemd \(.*not found\)$/);
  });

  it('systemd not running: idle, noting no systemd', async () => {
    const fake = script('down', 'echo "Failed to connect to bus: No such file or directory" >&2; exit 1');
    expect(await inhibitorProbe(2000, fake).check()).toEqual({ busy: false, reason: 'no systemd (Failed to connect to bus: No such file or directory)' });
  });

  it('a shutdown block lock is busy; delay and sleep locks are not', async () => {
    writeFileSync(join(dir, 'desktop.txt'), DESKTOP);
    const r = await inhibitorProbe(2000, script('list', `cat "${join(dir, 'desktop.txt')}"`)).check();
    expect(r).toEqual({ busy: true, reason: 'shutdown blocked by sleep 600 (pid 4242): Unknown reason, Backup job (pid 7777): Nightly backup…' });
    const delays = DESKTOP.split('\n').slice(0, 4).join('\n');
    writeFileSync(join(dir, 'delays.txt'), delays);
    expect(await inhibitorProbe(2000, script('delays', `cat "${join(dir, 'delays.txt')}"`)).check()).toEqual({ busy: false });
  });

  it('a hanging tool times out as busy', async () => {
    expect(await inhibitorProbe(200, script('hang', 'exec sleep 5')).check()).toEqual({ busy: true, reason: 'probe timed out' });
  });

  it('runs the real systemd-inhibit (here, in a container: no systemd)', async () => {
    const r = await inhibitorProbe(5000).check();
    // On a host with logind the answer depends on its locks; without systemd it must be idle with a note.
    if (!r.busy) expect(r.reason === undefined || r.reason.startsWith('no systemd')).toBe(true);
    else expect(r.reason).toMatch(/^shutdown blocked by /);
  });
});

describe('runIdleProbes', () => {
  const fixed = (name: string, busy: boolean, reason?: string): IdleProbe => ({ name, check: async () => (reason === undefined ? { busy } : { busy, reason }) });

  it('collects busy reasons and idle notes', async () => {
    const v = await runIdleProbes([fixed('load', false), fixed('inhibitors', false, 'no systemd'), fixed('backup', true, 'running'), fixed('rsync', true)]);
    expect(v).toEqual({ busy: true, reasons: ['backup: running', 'rsync: busy'], notes: ['inhibitors: no systemd'] });
  });

  it('all idle, or no probes at all, is idle', async () => {
    expect(await runIdleProbes([fixed('load', false)])).toEqual({ busy: false, reasons: [], notes: [] });
    expect(await runIdleProbes([])).toEqual({ busy: false, reasons: [], notes: [] });
  });

  it('a probe that throws counts as busy', async () => {
    const broken: IdleProbe = { name: 'broken', check: () => Promise.reject(new Error('boom')) };
    expect(await runIdleProbes([broken])).toEqual({ busy: true, reasons: ['broken: probe failed: boom'], notes: [] });
  });

  it('builds the configured probes and runs them for real', async () => {
    const probes = idleProbesFrom({ maxLoad: 1e9, busyCommands: ['false', 'true'], probeTimeoutSec: 5, systemdInhibitors: true });
    expect(probes.map((p) => p.name)).toEqual(['load', 'busy-command "false"', 'busy-command "true"', 'inhibitors']);
    const v = await runIdleProbes(probes);
    expect(v.busy).toBe(true);
    expect(v.reasons).toContain('busy-command "true": command reports busy (exit 0)');
    expect(idleProbesFrom({ maxLoad: 0, busyCommands: [], probeTimeoutSec: 5, systemdInhibitors: false })).toEqual([]);
  });
});
