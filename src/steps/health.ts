// Health checks of a trial boot: systemd state, required units, required and wanted check scripts, one deadline.
import { execa } from 'execa';

export interface HealthOptions {
  /** Ask systemd whether the system is running (off in sandboxes without systemd as PID 1). */
  systemd: boolean;
  /** Units that must be active. */
  units: string[];
  /** Commands (sh -c) that must exit 0. */
  required: string[];
  /** Commands whose failure is only logged. */
  wanted: string[];
  /** Overall deadline: a system still starting after it counts as failed. */
  deadlineSec: number;
  /** Per command timeout. */
  commandTimeoutSec: number;
  systemctl?: string;
}

export interface CheckResult {
  name: string;
  kind: 'systemd' | 'unit' | 'required' | 'wanted';
  ok: boolean;
  exitCode: number | null;
  output: string;
}

export interface HealthReport {
  ok: boolean;
  results: CheckResult[];
}

const MAX_OUTPUT = 4096;
const clip = (s: string): string => (s.length > MAX_OUTPUT ? `${s.slice(0, MAX_OUTPUT)}…[truncated]` : s);

async function run(cmd: string, args: string[], timeoutSec: number): Promise<{ exitCode: number | null; output: string }> {
  const r = await execa(cmd, args, { reject: false, all: true, timeout: timeoutSec * 1000, stdin: 'ignore' });
  const why = r.timedOut ? `\n[timed out after ${timeoutSec}s]` : '';
  return { exitCode: r.exitCode ?? null, output: clip(`${r.all ?? ''}${why}`.trim()) };
}

/** `systemctl is-system-running` until it leaves the starting states, or the deadline passes. */
async function systemState(o: HealthOptions, deadline: number, sleep: (ms: number) => Promise<void>): Promise<CheckResult> {
  const systemctl = o.systemctl ?? 'systemctl';
  for (;;) {
    const r = await run(systemctl, ['is-system-running'], o.commandTimeoutSec);
    const state = r.output.split('\n')[0]?.trim() ?? '';
    const starting = state === 'starting' || state === 'initializing';
    if (!starting || Date.now() >= deadline) {
      return { name: 'system state', kind: 'systemd', ok: state === 'running', exitCode: r.exitCode, output: state || r.output };
    }
    await sleep(1000);
  }
}

export async function runHealthChecks(o: HealthOptions, sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))): Promise<HealthReport> {
  const deadline = Date.now() + o.deadlineSec * 1000;
  const results: CheckResult[] = [];
  if (o.systemd) results.push(await systemState(o, deadline, sleep));
  for (const unit of o.units) {
    const r = await run(o.systemctl ?? 'systemctl', ['is-active', unit], o.commandTimeoutSec);
    results.push({ name: unit, kind: 'unit', ok: r.exitCode === 0, ...r });
  }
  for (const [kind, cmds] of [['required', o.required], ['wanted', o.wanted]] as const) {
    for (const cmd of cmds) {
      const left = Math.max(1, Math.min(o.commandTimeoutSec, Math.ceil((deadline - Date.now()) / 1000)));
      const r = await run('sh', ['-c', cmd], left);
      results.push({ name: cmd, kind, ok: r.exitCode === 0, ...r });
    }
  }
  return { ok: results.every((r) => r.ok || r.kind === 'wanted'), results };
}
