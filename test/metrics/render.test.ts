// renderMetrics: HELP and TYPE for every family, the upgrade_agent_ prefix, one phase set, escaped labels, absent unknowns.
import { describe, expect, it } from 'vitest';
import { PHASES } from '../../src/core/phases.js';
import { escapeLabel, renderMetrics, type MetricsState } from '../../src/metrics/render.js';
import { parseProm } from '../support/prom-parse.js';

const state: MetricsState = {
  deployment: { version: 3, phase: 'downloading', lastErrorCode: 'E_DOWNLOAD_SLOW', downloadedBytes: 1234, streamSize: 5000 },
  bootedVersion: 2,
  committedVersion: 2,
  lastCheckinAt: 1_764_662_400_500,
};
const value = (m: ReturnType<typeof parseProm>, name: string): number | undefined => m.get(`upgrade_agent_${name}`)?.samples[0]?.value;

describe('renderMetrics', () => {
  it('gives every family its HELP and TYPE gauge, every name the upgrade_agent_ prefix', () => {
    const m = parseProm(renderMetrics(state));
    expect(m.size).toBeGreaterThanOrEqual(8);
    for (const [name, f] of m) {
      expect(name).toMatch(/^upgrade_agent_[a-z_]+$/);
      expect(f.type).toBe('gauge');
      expect(f.help.length).toBeGreaterThan(10);
    }
  });

  it('states the phase as one series per phase, 1 for the current one', () => {
    const phase = parseProm(renderMetrics(state)).get('upgrade_agent_phase');
    expect(phase?.samples.map((s) => s.labels['phase'])).toEqual([...PHASES]);
    expect(phase?.samples.filter((s) => s.value === 1).map((s) => s.labels['phase'])).toEqual(['downloading']);
  });

  it('states versions, the error code, bytes and the check-in time (in seconds)', () => {
    const m = parseProm(renderMetrics(state));
    expect(value(m, 'target_version')).toBe(3);
    expect(value(m, 'booted_version')).toBe(2);
    expect(value(m, 'committed_version')).toBe(2);
    expect(m.get('upgrade_agent_last_error')?.samples).toEqual([{ labels: { code: 'E_DOWNLOAD_SLOW' }, value: 1 }]);
    expect(value(m, 'download_bytes')).toBe(1234);
    expect(value(m, 'download_size_bytes')).toBe(5000);
    expect(value(m, 'last_checkin_timestamp_seconds')).toBe(1_764_662_400.5);
  });

  it('leaves out what is not known, and sets no phase before the first deployment', () => {
    const m = parseProm(renderMetrics({ deployment: null, bootedVersion: null, committedVersion: null, lastCheckinAt: null }));
    expect(m.get('upgrade_agent_phase')?.samples.every((s) => s.value === 0)).toBe(true);
    for (const name of ['target_version', 'booted_version', 'committed_version', 'last_error', 'download_bytes', 'last_checkin_timestamp_seconds']) {
      expect(m.get(`upgrade_agent_${name}`)?.samples, name).toEqual([]);
    }
  });

  it('escapes backslash, double quote and line feed in label values', () => {
    expect(escapeLabel('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const odd = 'E_"ODD"\\\n';
    const m = parseProm(renderMetrics({ ...state, deployment: { ...state.deployment!, lastErrorCode: odd } }));
    expect(m.get('upgrade_agent_last_error')?.samples[0]?.labels['code']).toBe(odd);
  });
});
