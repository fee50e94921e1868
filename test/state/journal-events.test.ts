// Every journal event name the code or a test (unit, e2e, VM) looks for is one the agent writes: a row of JOURNAL_EVENTS.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JOURNAL_EVENTS } from '../../src/state/journal-events.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsFiles = (dir: string): string[] =>
  readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);

describe('JOURNAL_EVENTS', () => {
  it('has every event name compared against a journal row in src/ and test/', () => {
    const looked = new Map<string, string>();
    for (const f of [...tsFiles('src'), ...tsFiles('test')]) {
      for (const m of readFileSync(join(root, f), 'utf8').matchAll(/\bevent === '([^']+)'/g)) looked.set(m[1]!, f);
    }
    expect(looked.size).toBeGreaterThanOrEqual(7); // the scan finds them (switch:start, resumed, health, window:switch, ...)
    expect([...looked].filter(([event]) => !(event in JOURNAL_EVENTS))).toEqual([]);
  });

  it('keeps the persisted names the step runner and the window gate build', () => {
    for (const step of ['download', 'import', 'export']) {
      for (const what of ['start', 'done', 'deferred', 'failed']) expect(JOURNAL_EVENTS).toHaveProperty([`${step}:${what}`]);
    }
    for (const action of ['switch', 'wait', 'postpone']) expect(JOURNAL_EVENTS).toHaveProperty([`window:${action}`]);
  });
});
