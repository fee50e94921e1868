// Health checks of a trial boot: systemd state, required units, required and wanted check scripts, one deadline.
import { loadExeca } from '../adapters/exec.js';

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
  const execa = await loadExeca();
  const r = await execa(cmd, args, { reject: false, all: true, timeout: timeoutSec * 1000, stdin: 'ignore' });
  const why = r.timedOut ? `\n[timed out after ${timeoutSec}s]` : '';
  return { exitCode: r.exitCode ?? null, output: clip(`${r.all ?? ''}${why}`.trim()) };
}

/**
 * The system's state from systemd. The confirm unit is itself a boot job, so `is-system-running` says "starting" until it
 * has ended: once default.target is active, "starting" means only jobs ordered after this check are left, and the system
 * is judged by its failed units. Before that, and in any other state but running, wait or fail as the state says.
 */
async function systemState(o: HealthOptions, deadline: number, sleep: (ms: number) => Promise<void>): Promise<CheckResult> {
  const systemctl = o.systemctl ?? 'systemctl';
  const result = (ok: boolean, exitCode: number | null, output: string): CheckResult => ({ name: 'system state', kind: 'systemd', ok, exitCode, output });
  const failedUnits = async (): Promise<string[]> => {
    const r = await run(systemctl, ['list-units', '--state=failed', '--plain', '--no-legend', '--no-pager'], o.commandTimeoutSec);
    return r.output.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((u) => u !== '');
  };
  for (;;) {
    const r = await run(systemctl, ['is-system-running'], o.commandTimeoutSec);
    const state = r.output.split('\n')[0]?.trim() ?? '';
    if (state === 'running') return result(true, r.exitCode, state);
    if (state === 'starting' || state === 'initializing') {
      const reached = (await run(systemctl, ['is-active', 'default.target'], o.commandTimeoutSec)).exitCode === 0;
      if (reached) {
        const failed = await failedUnits();
        return failed.length === 0
          ? result(true, r.exitCode, `${state}: default.target reached, no failed units`)
          : result(false, r.exitCode, `${state}: failed units: ${failed.join(' ')}`);
      }
      if (Date.now() >= deadline) return result(false, r.exitCode, `${state}: default.target not reached by the deadline`);
      await sleep(1000);
      continue;
    }
    const failed = state === 'degraded' ? await failedUnits() : [];
    return result(false, r.exitCode, failed.length > 0 ? `${state}: failed units: ${failed.join(' ')}` : state || r.output);
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
