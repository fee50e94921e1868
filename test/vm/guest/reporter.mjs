// In-guest e2e reporter: boot facts, the agent's phase edges and status JSON as markers on ttyS1; then the boot plan.
// Markers are single lines `E2E <kind> <json>`; the harness on the host reads them from the second serial port.
import { openSync, writeSync, readFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { setInterval } from 'node:timers';

const require = createRequire('/usr/lib/upgrade-agent/package.json');
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
const run = promisify(execFile);
const cli = async (...args) => {
  try {
    return JSON.parse((await run('/usr/bin/upgradectl', [...args, '--json'], { encoding: 'utf8', timeout: 120_000 })).stdout);
  } catch (err) {
    return { error: String(err?.stderr ?? err) };
  }
};
// Both at once: each is a node start, seconds under TCG, and the guest has two vCPUs.
const dumpStatus = async () => {
  const [status, history] = await Promise.all([cli('status'), cli('history')]);
  mark('status', status);
  mark('history', history);
};

/** Each mount point's own read-only/read-write flag as this (system) namespace sees it, from /proc/self/mountinfo. */
function mountModes(points) {
  const modes = {};
  for (const line of read('/proc/self/mountinfo').split('\n')) {
    const f = line.split(' ');
    if (points.includes(f[4])) modes[f[4]] = f[5]?.split(',').includes('ro') ? 'ro' : 'rw';
  }
  return modes;
}

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
  mounts: mountModes(['/', '/host']),
  plan,
});
await dumpStatus();

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
  let handedOver = false;
  const poll = async () => {
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
      if (TERMINAL.has(r.phase) && !first) await dumpStatus();
    }
    first = false;
    // 'settle': once the deployment of plan.version has ended, power off; or, with plan.next, offer that version
    // (the fleet server prefers /run/e2e/target.json) and stay: the agent upgrades and reboots by itself.
    const ended = (version) => TERMINAL.has(rows.filter((r) => r.version === version).pop()?.phase);
    // After the hand-over, the next version ending here (failed, say) instead of rebooting ends the boot too.
    const done = handedOver ? ended(plan.next) : ended(plan.version);
    if (plan.then === 'settle' && done && !stopping) {
      if (plan.next && !handedOver) {
        handedOver = true;
        mkdirSync('/run/e2e', { recursive: true });
        // Renamed into place: the fleet server must never read a half-written file.
        writeFileSync('/run/e2e/target.json.tmp', JSON.stringify({ version: plan.next }));
        renameSync('/run/e2e/target.json.tmp', '/run/e2e/target.json');
        mark('target-offered', { version: plan.next });
        return;
      }
      stopping = true;
      mark('poweroff-requested', null);
      power('poweroff');
    }
  };
  // One poll at a time: a poll that dumps the status takes seconds.
  let polling = false;
  const tick = () => {
    if (polling) return;
    polling = true;
    poll()
      .catch((err) => mark('reporter-error', { message: String(err?.stack ?? err) }))
      .finally(() => { polling = false; });
  };
  tick();
  setInterval(tick, 200);
}
