// The daemon speaks sd_notify (READY, STATUS with the phase, watchdog pings, STOPPING) and sends catalog entries natively.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { systemdNotifier } from '../../src/systemd/notify.js';
import { journalFields, listenDatagrams, type Datagram, type DatagramListener } from '../support/datagram-listener.js';
import { CATALOG } from '../../src/systemd/catalog.js';

const CLI = join(process.cwd(), 'dist/src/cli/upgradectl.js');

describe('systemdNotifier', () => {
  const sent: string[] = [];
  const sender = { send: (socket: string, b: Buffer) => { sent.push(`${socket}|${b.toString()}`); } };

  it('sends nothing without NOTIFY_SOCKET', () => {
    sent.length = 0;
    const n = systemdNotifier({ WATCHDOG_USEC: '1000000' }, sender);
    n.ready('x'); n.status('y'); n.startWatchdog(); n.stopWatchdog(); n.stopping();
    expect(sent).toEqual([]);
  });

  it('READY with a one-line STATUS; no pings when WATCHDOG_PID names another process', () => {
    sent.length = 0;
    const n = systemdNotifier({ NOTIFY_SOCKET: '@ns', WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(process.pid + 1) }, sender);
    n.ready('a\n  b');
    n.startWatchdog();
    n.stopWatchdog();
    expect(sent).toEqual([`@ns|READY=1\nSTATUS=a b\nMAINPID=${process.pid}`]);
  });
});

describe('upgradectl daemon under a NOTIFY_SOCKET', () => {
  let dir: string;
  let listener: DatagramListener;
  let got: Datagram[];
  const text = (socket: string) => got.filter((d) => d.socket === socket).map((d) => d.data.toString());

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ua-notify-'));
    const host = join(dir, 'host');
    mkdirSync(join(host, 'images'), { recursive: true });
    writeFileSync(join(dir, 'cmdline'), 'root=/dev/vda1 ua.image=/images/1.img\n');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      deviceId: 'd', hardware: 'h', zfs: { pool: 'p' }, logLevel: 'info',
      paths: { hostRoot: host, stateDir: join(dir, 'state'), socket: join(dir, 'agent.sock') },
      fleet: { url: 'https://127.0.0.1:1' }, boot: { cmdlineFile: join(dir, 'cmdline'), bootIdFile: join(dir, 'cmdline') },
    }));
    const notifySock = join(dir, 'notify.sock');
    const journalSock = join(dir, 'journal.sock');
    listener = await listenDatagrams([notifySock, journalSock]);
    const started = Date.now();
    const daemon = execa('node', [CLI, 'daemon', '--config', join(dir, 'config.json')], {
      env: { NOTIFY_SOCKET: notifySock, WATCHDOG_USEC: '400000', UPGRADE_AGENT_JOURNAL_SOCKET: journalSock },
      reject: false, all: true,
    });
    const pings = (r: Datagram[]) => r.filter((d) => d.data.toString() === 'WATCHDOG=1').length;
    await listener.until((r) => r.some((d) => d.data.toString().startsWith('READY=1')) && pings(r) >= 3, 30_000);
    // A turn of the schedule ran (the check-in to a closed port fails): STATUS= follows with the phase line.
    await listener.until((r) => r.filter((d) => d.data.toString().startsWith('STATUS=idle')).length > 0, 30_000);
    expect(Date.now() - started).toBeLessThan(30_000);
    daemon.kill('SIGTERM');
    const r = await daemon;
    expect(r.exitCode, r.all).toBe(0);
    got = await listener.until((rs) => rs.some((d) => d.data.toString().startsWith('STOPPING=1')), 10_000);
    listener.close();
  });
  afterAll(() => listener?.close());

  it('READY=1 with STATUS and MAINPID, after a STATUS while the boot is reconciled', () => {
    const notes = text(join(dir, 'notify.sock'));
    const ready = notes.findIndex((t) => t.startsWith('READY=1\n'));
    expect(notes[0]).toBe('STATUS=reconciling the boot');
    expect(notes[ready]).toMatch(/^READY=1\nSTATUS=reconciling the boot; no active deployment\nMAINPID=\d+$/);
  });

  it('pings the watchdog from the event loop (WATCHDOG_USEC/2) and says the phase in STATUS', () => {
    const notes = text(join(dir, 'notify.sock'));
    expect(notes.filter((t) => t === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(3);
    expect(notes).toContain('STATUS=idle; no active deployment');
    expect(notes.at(-1)).toBe('STOPPING=1\nSTATUS=stopping');
  });

  it('sends the catalog events "started" and "ready" to the journal socket with their MESSAGE_ID', () => {
    const entries = got.filter((d) => d.socket === join(dir, 'journal.sock')).map((d) => journalFields(d.data));
    const id = (event: string) => CATALOG.find((e) => e.event === event)!.id;
    expect(entries.map((e) => [e['MESSAGE'], e['MESSAGE_ID']])).toEqual([['daemon started', id('started')], ['daemon ready', id('ready')]]);
    expect(entries[0]).toMatchObject({ PRIORITY: '6', SYSLOG_IDENTIFIER: 'upgrade-agent', UA_SOCKET: join(dir, 'agent.sock') });
  });
});
