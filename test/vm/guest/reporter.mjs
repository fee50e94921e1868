// In-guest e2e reporter: boot facts, the agent's phase edges and status JSON as markers on ttyS1; then the boot plan.
// Markers are single lines `E2E <kind> <json>`; the harness on the host reads them from the second serial port.
import { openSync, writeSync, readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { setInterval } from 'node:timers';

const require = createRequire('/opt/upgrade-agent/package.json');
const Database = require('better-sqlite3');
const out = openSync('/dev/ttyS1', 'w');
const mark = (kind, data) => writeSync(out, `E2E ${kind} ${JSON.stringify(data ?? null)}\n`);
const read = (p) => readFileSync(p, 'utf8').trim();
const tryRead = (p) => (existsSync(p) ? read(p) : null);
// systemctl reaches systemd over its private socket (no D-Bus here); it may still be told off by the shutdown it started.
const power = (verb) => {
  try {
    execFileSync('systemctl', [verb, '--no-block']);
  } catch (err) {
    mark('power-error', { verb, message: String(err?.stderr ?? err) });
  }
};
const cli = (...args) => {
  try {
    return JSON.parse(execFileSync('/usr/bin/upgradectl', [...args, '--json'], { encoding: 'utf8', timeout: 120_000 }));
  } catch (err) {
    return { error: String(err?.stderr ?? err) };
  }
};

// The plan comes from a small raw disk the harness writes before each boot: JSON padded with NUL bytes.
let plan = { then: 'wait' };
try {
  const text = readFileSync('/dev/vdd').toString('utf8').replace(/\0+$/g, '').trim();
  if (text) plan = JSON.parse(text);
} catch (err) {
  mark('plan-error', { message: String(err) });
}
const TERMINAL = new Set(['committed', 'failed', 'rolled_back', 'cancelled']);

mark('up', {
  cmdline: read('/proc/cmdline'),
  bootId: read('/proc/sys/kernel/random/boot_id'),
  uptimeSec: Number(read('/proc/uptime').split(' ')[0]),
  image: tryRead('/etc/e2e/image-version'),
  siteConf: tryRead('/etc/e2e/site.conf'),
  plan,
});
mark('status', cli('status'));
mark('history', cli('history'));

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  mark('shutdown', { uptimeSec: Number(read('/proc/uptime').split(' ')[0]) });
  process.exit(0);
});

if (plan.then === 'poweroff' || plan.then === 'reboot') {
  mark(plan.then === 'reboot' ? 'reboot-requested' : 'poweroff-requested', null);
  power(plan.then);
} else {
  // Follow the agent: every phase edge of every deployment, and the status after a terminal one. The first poll reports
  // every deployment's current phase.
  const dbPath = '/host/var/lib/upgrade-agent/state.db';
  const seen = new Map();
  let first = true;
  const poll = () => {
    if (stopping || !existsSync(dbPath)) return;
    let rows = [];
    try {
      const db = new Database(dbPath, { readonly: true, fileMustExist: true });
      try {
        rows = db.prepare('SELECT id, version, phase, reason_code AS code FROM deployments ORDER BY id').all();
      } finally {
        db.close();
      }
    } catch {
      return; // busy or being created: the next poll sees it
    }
    for (const r of rows) {
      if (seen.get(r.id) === r.phase) continue;
      seen.set(r.id, r.phase);
      mark('phase', r);
      // A deployment that had already ended when this boot came up is in the 'up' status and history.
      if (TERMINAL.has(r.phase) && !first) {
        mark('status', cli('status'));
        mark('history', cli('history'));
      }
    }
    first = false;
    // 'settle': power off once the deployment of plan.version has ended (the agent may reboot first, ending the boot).
    const target = rows.filter((r) => r.version === plan.version).pop();
    if (plan.then === 'settle' && target && TERMINAL.has(target.phase) && !stopping) {
      stopping = true;
      mark('poweroff-requested', null);
      power('poweroff');
    }
  };
  poll();
  setInterval(poll, 200);
}
