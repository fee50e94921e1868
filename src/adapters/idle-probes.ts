// Idle probes (imperative shell): load average, operator busy-commands, systemd inhibitor locks on shutdown.
import { loadavg } from 'node:os';
import { loadExeca } from './exec.js';

export interface ProbeResult {
  busy: boolean;
  /** Why busy; for an idle result, a note such as 'no systemd'. */
  reason?: string;
}

export interface IdleProbe {
  readonly name: string;
  check(): Promise<ProbeResult>;
}

export interface IdleVerdict {
  busy: boolean;
  /** One line per busy probe, prefixed with the probe's name. */
  reasons: string[];
  /** Remarks from idle probes (e.g. 'inhibitors: no systemd'), for the log only. */
  notes: string[];
}

/** Busy when the 1-minute load average is above `maxLoad`. The source is injectable for tests. */
export function loadProbe(maxLoad: number, source: () => number[] = loadavg): IdleProbe {
  return {
    name: 'load',
    async check() {
      const load = source()[0] ?? 0;
      return load > maxLoad ? { busy: true, reason: `load ${load.toFixed(2)} > ${maxLoad}` } : { busy: false };
    },
  };
}

/**
 * Runs an operator's shell command: exit 0 means busy (like `pgrep -x backup`), any other exit means idle.
 * A command that hangs counts as busy: we cannot tell it is safe to reboot. It runs in its own process
 * group so a timeout kills everything it started, not just the shell.
 */
export function busyCommandProbe(command: string, timeoutMs: number): IdleProbe {
  return {
    name: `busy-command ${JSON.stringify(command)}`,
    async check() {
      const execa = await loadExeca();
      const sub = execa('sh', ['-c', command], { detached: true, stdio: 'ignore', reject: false });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          if (sub.pid !== undefined) process.kill(-sub.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, timeoutMs);
      const r = await sub.finally(() => clearTimeout(timer));
      if (timedOut) return { busy: true, reason: 'probe timed out' };
      if (r.exitCode === 0) return { busy: true, reason: 'command reports busy (exit 0)' };
      if (r.exitCode === undefined) return { busy: true, reason: `command could not run: ${r.shortMessage}` };
      return { busy: false };
    },
  };
}

export interface Inhibitor {
  who: string;
  uid: number;
  user: string;
  pid: number;
  comm: string;
  /** Operations inhibited: shutdown, sleep, idle, handle-*-key, handle-lid-switch. */
  what: string[];
  why: string;
  mode: string;
}

const OPERATION = /^(?:shutdown|sleep|idle|handle-[a-z-]+)(?::(?:shutdown|sleep|idle|handle-[a-z-]+))*$/;
const MODE = /^(?:block|block-weak|delay)$/;

/**
 * Parses `systemd-inhibit --list --no-legend --no-pager`: one row per lock, columns
 * WHO UID USER PID COMM WHAT WHY MODE separated by runs of spaces. WHO, COMM and WHY may contain spaces,
 * so the row is anchored on UID/USER/PID, on WHAT (a colon list of known operations) and on MODE (last).
 * Rows that do not fit are skipped: an unknown format must not invent locks.
 */
export function parseInhibitors(stdout: string): Inhibitor[] {
  const out: Inhibitor[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s*(.*?)\s+(\d+)\s+(\S+)\s+(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const tokens = (m[5] ?? '').trim().split(/\s+/);
    const mode = tokens.pop() ?? '';
    // COMM comes first and may itself be an operation's name (`systemd-inhibit sleep 600`): skip it.
    const whatAt = tokens.findIndex((t, i) => i >= 1 && OPERATION.test(t));
    if (!MODE.test(mode) || whatAt < 0) continue;
    out.push({
      who: m[1] ?? '',
      uid: Number(m[2]),
      user: m[3] ?? '',
      pid: Number(m[4]),
      comm: tokens.slice(0, whatAt).join(' '),
      what: (tokens[whatAt] ?? '').split(':'),
      why: tokens.slice(whatAt + 1).join(' '),
      mode,
    });
  }
  return out;
}

/**
 * Locks that stop a reboot: mode block (or block-weak, which a root caller could override — we honour it
 * anyway, the holder asked not to be interrupted) on 'shutdown'. Delay locks only postpone a reboot by
 * InhibitDelayMaxSec, and sleep/idle locks do not concern it.
 */
export function blockingInhibitors(list: Inhibitor[]): Inhibitor[] {
  return list.filter((i) => (i.mode === 'block' || i.mode === 'block-weak') && i.what.includes('shutdown'));
}

/**
 * Asks logind for inhibitor locks. When the tool is missing or systemd is not running (containers, the test
 * sandbox: "Failed to connect to bus"), there is nobody to hold a lock, so the probe reports idle with the
 * note 'no systemd' rather than blocking upgrades forever.
 */
export function inhibitorProbe(timeoutMs: number, command = 'systemd-inhibit'): IdleProbe {
  return {
    name: 'inhibitors',
    async check() {
      const execa = await loadExeca();
      const r = await execa(command, ['--list', '--no-legend', '--no-pager'], {
        reject: false,
        timeout: timeoutMs,
        stdin: 'ignore',
        env: { LC_ALL: 'C', LANG: 'C', SYSTEMD_COLORS: '0' },
      });
      if (r.timedOut) return { busy: true, reason: 'probe timed out' };
      if (r.code === 'ENOENT') return { busy: false, reason: `no systemd (${command} not found)` };
      if (r.exitCode !== 0) {
        const first = (r.stderr || r.shortMessage || '').split('\n')[0] ?? '';
        return { busy: false, reason: `no systemd (${first.trim()})` };
      }
      const blocking = blockingInhibitors(parseInhibitors(r.stdout));
      if (blocking.length === 0) return { busy: false };
      const who = blocking.map((i) => `${i.who} (pid ${i.pid}): ${i.why}`).join(', ');
      return { busy: true, reason: `shutdown blocked by ${who}` };
    },
  };
}

/** Runs every probe (concurrently: each has its own timeout); a probe that throws counts as busy. */
export async function runIdleProbes(probes: readonly IdleProbe[]): Promise<IdleVerdict> {
  const results = await Promise.all(
    probes.map(async (p) => {
      try {
        return { name: p.name, ...(await p.check()) };
      } catch (err) {
        return { name: p.name, busy: true, reason: `probe failed: ${err instanceof Error ? err.message : String(err)}` };
      }
    }),
  );
  const reasons = results.filter((r) => r.busy).map((r) => `${r.name}: ${r.reason ?? 'busy'}`);
  const notes = results.filter((r) => !r.busy && r.reason).map((r) => `${r.name}: ${r.reason}`);
  return { busy: reasons.length > 0, reasons, notes };
}

/** The probes a config `window.idle` section asks for. */
export function idleProbesFrom(idle: { maxLoad: number; busyCommands: readonly string[]; probeTimeoutSec: number; systemdInhibitors: boolean }): IdleProbe[] {
  const timeoutMs = idle.probeTimeoutSec * 1000;
  return [
    ...(idle.maxLoad > 0 ? [loadProbe(idle.maxLoad)] : []),
    ...idle.busyCommands.map((c) => busyCommandProbe(c, timeoutMs)),
    ...(idle.systemdInhibitors ? [inhibitorProbe(timeoutMs)] : []),
  ];
}
