// Docs stay true: every error code the agent can raise is listed in the README, and nothing listed is stale.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../src/errors.js';

describe('README', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  it('lists every error code with its meaning', () => {
    for (const [code, meaning] of Object.entries(ERROR_CODES)) expect(readme).toContain(`| \`${code}\` | ${meaning} |`);
  });
  it('lists no code that does not exist', () => {
    const listed = [...readme.matchAll(/^\| `(E_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(listed.filter((c) => !(c! in ERROR_CODES))).toEqual([]);
    expect(listed.length).toBe(Object.keys(ERROR_CODES).length);
  });
});
