// server.json's `database`: a SQLite path (relative to the config) or a postgresql:// URL kept as given.
import { describe, expect, it } from 'vitest';
import { isPostgresUrl, parseServeConfig } from '../../src/fleet/serve-config.js';

const base = { tls: { certFile: 'c.pem', keyFile: 'k.pem' }, publishDir: 'www' };

describe('serve config: database', () => {
  it('a path is SQLite, resolved from the config dir; diffs.dir defaults beside it', () => {
    const c = parseServeConfig({ ...base, database: 'db/fleet.db' }, '/etc/fleet');
    expect(c.database).toBe('/etc/fleet/db/fleet.db');
    expect(c.diffs.dir).toBe('/etc/fleet/db/diffs');
    expect(isPostgresUrl(c.database)).toBe(false);
  });
  it('a postgresql:// URL is kept as given and wants diffs.dir', () => {
    const url = 'postgresql://fleet@db.example:5432/fleet?sslmode=require';
    expect(parseServeConfig({ ...base, database: url, diffs: { dir: '/srv/diffs' } }, '/etc/fleet').database).toBe(url);
    expect(isPostgresUrl('postgres://x/y')).toBe(true);
    expect(() => parseServeConfig({ ...base, database: url }, '/etc/fleet')).toThrow(expect.objectContaining({ code: 'E_CONFIG_INVALID', message: expect.stringContaining('diffs.dir') }));
  });
  it('a URL without a database name is E_CONFIG_INVALID', () => {
    expect(() => parseServeConfig({ ...base, database: 'postgresql://db.example', diffs: { dir: '/srv/d' } })).toThrow(expect.objectContaining({ code: 'E_CONFIG_INVALID', message: expect.stringContaining('names no database') }));
  });
});
