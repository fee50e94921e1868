// The example config the package ships (/usr/share/doc/upgrade-agent/examples/config.json) is a valid config.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../src/config.js';
import { parseServeConfig } from '../src/fleet/serve-config.js';

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

describe('packaging/server.example.json', () => {
  const raw = (): Record<string, unknown> => JSON.parse(readFileSync('packaging/server.example.json', 'utf8')) as Record<string, unknown>;

  it('passes the server schema as docs/fleet-server.md describes it: admin API on, builds from tank/images, diffs outside publishDir', () => {
    const cfg = parseServeConfig(raw(), '/');
    expect(cfg.listen).toEqual({ host: '0.0.0.0', port: 8443 });
    expect(cfg.adminTokenFile).toBe('/etc/upgrade-fleet/admin.token');
    expect(cfg.diffs).toMatchObject({ dataset: 'tank/images', dir: '/var/lib/upgrade-fleet/diffs', delegateKeyFile: '/etc/upgrade-fleet/online.key' });
    expect(cfg.cache).toEqual({ immutableMaxAgeSec: 31_536_000, manifestMaxAgeSec: 60 });
  });

  it('the check rejects a key the server does not know (control)', () => {
    expect(() => parseServeConfig({ ...raw(), bogus: 1 }, '/')).toThrow(/bogus/);
  });
});
