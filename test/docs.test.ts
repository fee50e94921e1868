// Docs stay true: every error code is listed in the README, every journal event in docs/journal.md (nothing stale), every config key in docs/configuration.md.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../src/errors.js';
import { JOURNAL_EVENTS } from '../src/state/journal-events.js';
import { parseConfig, SCHEMA } from '../src/config.js';
import type { Spec } from '../src/util/strict-schema.js';

describe('README', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  it('lists every error code with its meaning', () => {
    for (const [code, { message }] of Object.entries(ERROR_CODES)) expect(readme).toContain(`| \`${code}\` | ${message} |`);
  });
  it('lists no code that does not exist', () => {
    const listed = [...readme.matchAll(/^\| `(E_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(listed.filter((c) => !(c! in ERROR_CODES))).toEqual([]);
    expect(listed.length).toBe(Object.keys(ERROR_CODES).length);
  });
});

describe('docs/journal.md', () => {
  const doc = readFileSync(new URL('../docs/journal.md', import.meta.url), 'utf8');
  it('lists every journal event with its meaning', () => {
    for (const [event, meaning] of Object.entries(JOURNAL_EVENTS)) expect(doc).toContain(`| \`${event}\` | ${meaning} |`);
  });
  it('lists exactly the events of the table, each once', () => {
    const listed = [...doc.matchAll(/^\| `([a-z:-]+)` \|/gm)].map((m) => m[1]);
    expect([...listed].sort()).toEqual(Object.keys(JOURNAL_EVENTS).sort());
  });
  it('is linked from the README', () => {
    expect(readFileSync(new URL('../README.md', import.meta.url), 'utf8')).toContain('docs/journal.md');
  });
});

describe('docs/configuration.md', () => {
  const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
  const leaves = (o: object, prefix = ''): string[] =>
    Object.entries(o).flatMap(([k, v]) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? leaves(v as object, `${prefix}${k}.`) : [`${prefix}${k}`]));
  it('has a row for every config key', () => {
    const keys = leaves(parseConfig({ deviceId: 'd', hardware: 'h', zfs: { pool: 'p' } }));
    expect(keys).toContain('state.journalMaxRows');
    expect(keys.filter((k) => !doc.includes(`| \`${k}\` |`))).toEqual([]);
  });

  it('states the range of every numeric key as its schema checks it (min..max, or ≥ min when unbounded)', () => {
    const ranges = (spec: Spec, path: string): [string, string][] => {
      if (spec.t === 'object') return Object.entries(spec.fields).flatMap(([k, v]) => ranges(v, path ? `${path}.${k}` : k));
      if (spec.t !== 'int' && spec.t !== 'num') return [];
      const min = spec.min ?? 0;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      return [[path, max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `${min}..${max}`]];
    };
    const rows = ranges(SCHEMA, '');
    expect(rows.length).toBeGreaterThan(30);
    const missing = rows.filter(([k, range]) => !(doc.split('\n').find((l) => l.startsWith(`| \`${k}\` |`)) ?? '').includes(range));
    expect(missing).toEqual([]);
  });
});
