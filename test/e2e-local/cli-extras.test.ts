// The real upgradectl on the sandbox: every --json verb carries schema, piped output stays plain, a TTY gets the
// progress line, and the metrics textfile follows a real prepare.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERBS } from '../../src/cli/verbs.js';
import { CLI, makeDevice, startFleet, type Device, type Fleet } from '../support/device-sandbox.js';
import { parseProm } from '../support/prom-parse.js';

let fleet: Fleet;
let dev: Device;
let metricsPath: string;

beforeAll(async () => {
  fleet = await startFleet({ versions: 3, sizeMiB: 16, blobKiB: 512 });
  await fleet.publishVersion(2, [1], false);
  await fleet.publishVersion(3, [2], false);
  dev = await makeDevice(fleet, 'extras');
  metricsPath = join(dev.dir, 'upgrade_agent.prom');
  const cfg = JSON.parse(readFileSync(dev.configPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(dev.configPath, JSON.stringify({ ...cfg, metrics: { textfile: metricsPath } }));
});

afterAll(async () => {
  await dev?.close();
  await fleet?.close();
});

// C0 controls but tab and line feed, DEL and C1 (ESC, CR included): a piped reader gets plain lines.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

/** The extra arguments each --json verb needs here; a verb missing from this table fails the test below. */
const JSON_VERB_ARGS: Record<string, () => string[]> = {
  status: () => [],
  history: () => [],
  images: () => [],
  cleanup: () => ['--dry-run'],
  'check-in': () => [],
  prepare: () => ['--manifest', `${fleet.server.url}/manifests/2.json`],
};

const metrics = (): ReturnType<typeof parseProm> => parseProm(readFileSync(metricsPath, 'utf8'));
const phaseOf = (m: ReturnType<typeof parseProm>): string[] =>
  (m.get('upgrade_agent_phase')?.samples ?? []).filter((s) => s.value === 1).map((s) => s.labels['phase'] as string);

describe('upgradectl --json, piped', () => {
  it('every verb of the verbs table that takes --json prints an object with schema, and no control characters', async () => {
    // The fleet server's verbs talk to a server, not to this device: test/cli/fleet-server.test.ts checks their --json.
    const verbs = Object.entries(VERBS).filter(([, v]) => v.json && v.group !== 'fleet').map(([name]) => name);
    expect(verbs.length).toBeGreaterThanOrEqual(6);
    expect(verbs.filter((v) => !(v in JSON_VERB_ARGS)), 'verbs with --json and no entry in JSON_VERB_ARGS').toEqual([]);
    fleet.target.version = null; // check-in: answered, nothing to do
    for (const verb of verbs) {
      const r = await dev.cli([verb, ...(JSON_VERB_ARGS[verb] as () => string[])(), '--json']);
      const doc = JSON.parse(r.stdout) as { schema?: unknown };
      expect(doc.schema, verb).toBe(1);
      expect(CONTROL.test(r.stdout), `${verb} stdout`).toBe(false);
      expect(CONTROL.test(r.stderr), `${verb} stderr`).toBe(false);
    }
    expect((await dev.statusJson()).deployment).toMatchObject({ version: 2, phase: 'ready' });
  });

  it('the metrics textfile followed that prepare: phase ready, versions, bytes, the check-in time', () => {
    const m = metrics();
    expect(phaseOf(m)).toEqual(['ready']);
    expect(m.get('upgrade_agent_target_version')?.samples[0]?.value).toBe(2);
    expect(m.get('upgrade_agent_booted_version')?.samples[0]?.value).toBe(1);
    expect(m.get('upgrade_agent_committed_version')?.samples[0]?.value).toBe(1);
    const size = m.get('upgrade_agent_download_size_bytes')?.samples[0]?.value;
    expect(size).toBeGreaterThan(0);
    expect(m.get('upgrade_agent_download_bytes')?.samples[0]?.value).toBe(size);
    expect(m.get('upgrade_agent_last_error')?.samples).toEqual([]);
    const checkin = m.get('upgrade_agent_last_checkin_timestamp_seconds')?.samples[0]?.value as number;
    expect(Math.abs(checkin - Date.now() / 1000)).toBeLessThan(600);
  });
});

/** Runs upgradectl on a pseudo-terminal (script(1)): stdout and stderr are terminals there, and both land in stdout. */
async function onPty(args: string[]): Promise<{ exitCode: number; stdout: string }> {
  const cmd = ['node', CLI, ...args, '--config', dev.configPath].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = await execa('script', ['-qec', cmd, '/dev/null'], { reject: false });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout };
}

describe('upgradectl on a terminal', () => {
  it('cleanup shows its phase', async () => {
    const r = await onPty(['cleanup', '--dry-run']);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.stdout).toContain('\rcleanup: planning (dry run)\x1b[K');
  });

  it('prepare draws the progress line (phases, bytes, rate, ETA) on a pseudo-terminal', async () => {
    const r = await onPty(['prepare', '--manifest', `${fleet.server.url}/manifests/3.json`]);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.stdout).toContain('\rdownloading');
    expect(r.stdout).toMatch(/\rdownloading [\d.]+ [KMG]?i?B \/ [\d.]+ [KMG]?i?B {2}\d+% {2}.+\/s {2}ETA /);
    expect(r.stdout).toContain('\x1b[K');
    expect(r.stdout).toContain('\rexporting');
    expect(phaseOf(metrics())).toEqual(['ready']);
    expect(metrics().get('upgrade_agent_target_version')?.samples[0]?.value).toBe(3);
  });

  it('apply --now shows the switch\'s phases up to the (sandbox) reboot', async () => {
    const r = await onPty(['apply', '--now']);
    expect(r.exitCode, r.stdout).toBe(0);
    for (const phase of ['migrating', 'staged', 'rebooting']) expect(r.stdout).toContain(`\r${phase}`);
    expect(phaseOf(metrics())).toEqual(['rebooting']);
  });
});
