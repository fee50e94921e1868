// The example config the package ships (/usr/share/doc/upgrade-agent/examples/config.json) is a valid config.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../src/config.js';

describe('packaging/config.example.json', () => {
  it('passes the strict schema, with the README-recommended rw images and a window', () => {
    const cfg = parseConfig(JSON.parse(readFileSync('packaging/config.example.json', 'utf8')));
    expect(cfg.boot.extraArgs).toBe('rw');
    expect(cfg.window.cron).toBe('0 3 * * *');
    expect(cfg.paths.hostRoot).toBe('/host');
  });

  it('the check rejects a key the agent does not know (control)', () => {
    const bad = { ...JSON.parse(readFileSync('packaging/config.example.json', 'utf8')), bogus: 1 };
    expect(() => parseConfig(bad)).toThrow(/bogus/);
  });
});
