// Config parsing: strict keys, defaults derived from hostRoot, clear codes for each kind of mistake.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

const minimal = { deviceId: 'd1', hardware: 'hw', zfs: { pool: 'tank' } };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).code;
  }
  return undefined;
}

describe('parseConfig', () => {
  it('fills defaults and derives paths from hostRoot', () => {
    const c = parseConfig({ ...minimal, paths: { hostRoot: '/sandbox/host/' } });
    expect(c.paths.imagesDir).toBe('/sandbox/host/images');
    expect(c.paths.stateDir).toBe('/sandbox/host/var/lib/upgrade-agent');
    expect(c.paths.grubDir).toBe('/sandbox/host/boot/grub');
    expect(c.zfs.layout).toBe('file');
    expect(c.trust.threshold).toBe(1);
    expect(c.fleet.url).toBeNull();
  });

  it('names an unknown key, nested or at the top', () => {
    expect(codeOf(() => parseConfig({ ...minimal, colour: 'red' }))).toBe('E_CONFIG_UNKNOWN_KEY');
    try {
      parseConfig({ ...minimal, zfs: { pool: 'tank', poool: 'x' } });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).message).toContain('zfs.poool');
      expect((err as ConfigError).context['key']).toBe('zfs.poool');
    }
  });

  it('refuses missing required values, wrong types and out-of-range numbers', () => {
    expect(codeOf(() => parseConfig({ hardware: 'hw', zfs: { pool: 'p' } }))).toBe('E_CONFIG_INVALID');
    expect(codeOf(() => parseConfig({ ...minimal, zfs: { pool: 'p', layout: 'lvm' } }))).toBe('E_CONFIG_INVALID');
    expect(codeOf(() => parseConfig({ ...minimal, space: { keepImages: 0 } }))).toBe('E_CONFIG_INVALID');
    expect(codeOf(() => parseConfig({ ...minimal, download: { deadlineSec: '10' } }))).toBe('E_CONFIG_INVALID');
    expect(codeOf(() => parseConfig({ ...minimal, trust: { keys: [{ keyid: 'a', publicKey: 'b', extra: 1 }] } }))).toBe('E_CONFIG_UNKNOWN_KEY');
  });

  it('bounds trust.maxClockAheadSec to 0..366 days, default one day', () => {
    expect(parseConfig(minimal).trust.maxClockAheadSec).toBe(86400);
    expect(parseConfig({ ...minimal, trust: { maxClockAheadSec: 0 } }).trust.maxClockAheadSec).toBe(0);
    expect(parseConfig({ ...minimal, trust: { maxClockAheadSec: 366 * 86400 } }).trust.maxClockAheadSec).toBe(366 * 86400);
    for (const v of [-1, 366 * 86400 + 1, 1.5, '86400']) {
      expect(codeOf(() => parseConfig({ ...minimal, trust: { maxClockAheadSec: v } }))).toBe('E_CONFIG_INVALID');
    }
  });

  it('bounds the journal by state.journalMaxRows (100..10000000) and state.journalMaxAgeDays (1..36500)', () => {
    expect(parseConfig(minimal).state).toMatchObject({ journalMaxRows: 10_000, journalMaxAgeDays: 365 });
    expect(parseConfig({ ...minimal, state: { journalMaxRows: 100, journalMaxAgeDays: 36500 } }).state).toMatchObject({ journalMaxRows: 100, journalMaxAgeDays: 36500 });
    expect(parseConfig({ ...minimal, state: { journalMaxRows: 10_000_000, journalMaxAgeDays: 1 } }).state).toMatchObject({ journalMaxRows: 10_000_000, journalMaxAgeDays: 1 });
    expect(codeOf(() => parseConfig({ ...minimal, state: { journalMaxRows: 99 } }))).toBe('E_CONFIG_INVALID');
    expect(codeOf(() => parseConfig({ ...minimal, state: { journalMaxRows: 10_000_001 } }))).toBe('E_CONFIG_INVALID');
    expect(codeOf(() => parseConfig({ ...minimal, state: { journalMaxAgeDays: 0 } }))).toBe('E_CONFIG_INVALID');
    expect(codeOf(() => parseConfig({ ...minimal, state: { journalMaxAgeDays: 36501 } }))).toBe('E_CONFIG_INVALID');
    expect(codeOf(() => parseConfig({ ...minimal, state: { journalMaxAgeDays: 1.5 } }))).toBe('E_CONFIG_INVALID');
  });

  it('download.maxBytesPerSec: 0 (no cap) by default; when set, at least twice the drip guard floor', () => {
    expect(parseConfig(minimal).download.maxBytesPerSec).toBe(0);
    expect(parseConfig({ ...minimal, download: { maxBytesPerSec: 2048 } }).download.maxBytesPerSec).toBe(2048);
    expect(parseConfig({ ...minimal, download: { maxBytesPerSec: 100, minBytesPerSec: 0 } }).download.maxBytesPerSec).toBe(100);
    expect(codeOf(() => parseConfig({ ...minimal, download: { maxBytesPerSec: 2047 } }))).toBe('E_CONFIG_INVALID');
    expect(codeOf(() => parseConfig({ ...minimal, download: { maxBytesPerSec: -1 } }))).toBe('E_CONFIG_INVALID');
  });

  it('refuses a threshold larger than the configured key count', () => {
    const keys = [{ keyid: 'a', publicKey: 'b' }];
    expect(codeOf(() => parseConfig({ ...minimal, trust: { keys, threshold: 2 } }))).toBe('E_CONFIG_INVALID');
  });
});

describe('loadConfig', () => {
  it('reports unreadable and unparsable files with distinct codes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ua-config-'));
    expect(codeOf(() => loadConfig(join(dir, 'missing.json')))).toBe('E_CONFIG_READ');
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    expect(codeOf(() => loadConfig(join(dir, 'bad.json')))).toBe('E_CONFIG_PARSE');
    writeFileSync(join(dir, 'ok.json'), JSON.stringify(minimal));
    expect(loadConfig(join(dir, 'ok.json')).deviceId).toBe('d1');
  });
});
