// Health checks with real commands; systemctl replaced by a real script where systemd is not PID 1 (this sandbox).
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHealthChecks, type HealthOptions } from '../../src/steps/health.js';

const base: HealthOptions = { systemd: false, units: [], required: [], wanted: [], deadlineSec: 10, commandTimeoutSec: 5 };

/** A systemctl stand-in answering is-system-running with the given states in turn, is-active per unit, failed units. */
function fakeSystemctl(states: string[], activeUnits: string[], failedUnits: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'ua-health-'));
  const counter = join(dir, 'n');
  writeFileSync(counter, '0');
  const path = join(dir, 'systemctl');
  const list = states.map((s) => `"${s}"`).join(' ');
  writeFileSync(path, `#!/bin/sh
if [ "$1" = is-system-running ]; then
  n=$(cat ${counter}); echo $((n+1)) > ${counter}
  i=0; for s in ${list}; do last=$s; if [ $i -eq $n ]; then echo "$s"; [ "$s" = running ]; exit $?; fi; i=$((i+1)); done
  echo "$last"; [ "$last" = running ]; exit $?
fi
if [ "$1" = list-units ]; then
  for u in ${failedUnits.join(' ')}; do echo "$u loaded failed failed Some unit"; done
  exit 0
fi
if [ "$1" = is-active ]; then
  case " ${activeUnits.join(' ')} " in *" $2 "*) echo active; exit 0;; esac
  echo inactive; exit 3
fi
exit 1
`);
  chmodSync(path, 0o755);
  return path;
}

describe('runHealthChecks', () => {
  it('passes when every required check passes; a failing wanted check is only reported', async () => {
    const r = await runHealthChecks({ ...base, required: ['true', 'test -d /'], wanted: ['echo meh; exit 2'] });
    expect(r.ok).toBe(true);
    const wanted = r.results.find((x) => x.kind === 'wanted')!;
    expect(wanted.ok).toBe(false);
    expect(wanted.output).toBe('meh');
  });

  it('fails on a failing required check and keeps its output and exit code', async () => {
    const r = await runHealthChecks({ ...base, required: ['true', 'echo "disk /data missing" >&2; exit 3'] });
    expect(r.ok).toBe(false);
    const bad = r.results.find((x) => !x.ok)!;
    expect(bad.exitCode).toBe(3);
    expect(bad.output).toContain('disk /data missing');
  });

  it('counts a hanging check as failed at its timeout', async () => {
    const r = await runHealthChecks({ ...base, required: ['sleep 30'], commandTimeoutSec: 1 });
    expect(r.ok).toBe(false);
    expect(r.results[0]!.output).toContain('timed out');
  });

  it('waits while systemd is starting, then judges running / degraded', async () => {
    const ok = await runHealthChecks({ ...base, systemd: true, systemctl: fakeSystemctl(['starting', 'starting', 'running'], []) }, async () => undefined);
    expect(ok.ok).toBe(true);
    const degraded = await runHealthChecks({ ...base, systemd: true, systemctl: fakeSystemctl(['starting', 'degraded'], []) }, async () => undefined);
    expect(degraded.ok).toBe(false);
    expect(degraded.results[0]!.output).toBe('degraded');
    const named = await runHealthChecks({ ...base, systemd: true, systemctl: fakeSystemctl(['degraded'], [], ['app.service']) }, async () => undefined);
    expect(named.results[0]!.output).toBe('degraded: failed units: app.service');
  });

  it('judges a boot still "starting" only because of jobs after the check (itself) by its failed units once default.target is active', async () => {
    const waits: number[] = [];
    const sleep = async (ms: number) => void waits.push(ms);
    const ok = await runHealthChecks({ ...base, systemd: true, systemctl: fakeSystemctl(['starting'], ['default.target']) }, sleep);
    expect(ok.ok).toBe(true);
    expect(ok.results[0]!.output).toBe('starting: default.target reached, no failed units');
    const bad = await runHealthChecks({ ...base, systemd: true, systemctl: fakeSystemctl(['starting'], ['default.target'], ['db.service', 'app.service']) }, sleep);
    expect(bad.ok).toBe(false);
    expect(bad.results[0]!.output).toBe('starting: failed units: db.service app.service');
    expect(waits).toEqual([]);
  });

  it('fails a boot that never reaches default.target by the deadline', async () => {
    const r = await runHealthChecks({ ...base, systemd: true, deadlineSec: 0, systemctl: fakeSystemctl(['starting'], []) }, async () => undefined);
    expect(r.ok).toBe(false);
    expect(r.results[0]!.output).toBe('starting: default.target not reached by the deadline');
  });

  it('requires configured units to be active', async () => {
    const r = await runHealthChecks({ ...base, units: ['app.service', 'db.service'], systemctl: fakeSystemctl(['running'], ['app.service']) });
    expect(r.ok).toBe(false);
    expect(r.results.filter((x) => !x.ok).map((x) => x.name)).toEqual(['db.service']);
  });
});
