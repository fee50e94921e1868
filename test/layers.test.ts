// The folder layering of src/ (layers.js) as lint rules: every upward import and every import of what ships apart fails lint.
import { describe, it, expect } from 'vitest';
import { ESLint } from 'eslint';
import { APART, EXCEPTIONS, LAYERS } from '../layers.js';

const eslint = new ESLint({ cwd: process.cwd() });

/** A file of `entry` (a folder of src/ or a file at its root) and the specifier by which it would import `target`. */
function site(entry: string, target: string): { filePath: string; spec: string } {
  const filePath = entry.endsWith('.ts') ? `src/${entry}` : `src/${entry}/probe.ts`;
  const up = entry.endsWith('.ts') ? './' : '../';
  const spec = target.endsWith('.ts') ? `${up}${target.replace(/\.ts$/, '.js')}` : `${up}${target}/probe-target.js`;
  return { filePath, spec };
}

async function restricted(entry: string, target: string): Promise<boolean> {
  const { filePath, spec } = site(entry, target);
  const [r] = await eslint.lintText(`import { x } from '${spec}';\nexport const y = x;\n`, { filePath });
  return (r?.messages ?? []).some((m) => m.ruleId === 'no-restricted-imports');
}

/** A whole folder allowed upward (single-file exceptions are checked apart, below). */
const excepted = (from: string, to: string): boolean => EXCEPTIONS.some(([f, t]) => f === from && t === `${to}/*`);

describe('layers', () => {
  const all = LAYERS.flat();
  const cases: { from: string; to: string; banned: boolean }[] = [];
  LAYERS.forEach((layer, i) => {
    for (const from of layer) {
      for (const [j, other] of LAYERS.entries()) {
        for (const to of other) if (to !== from && !to.endsWith('.ts')) cases.push({ from, to, banned: j < i && !excepted(from, to) });
      }
      for (const to of Object.keys(APART)) cases.push({ from, to, banned: !excepted(from, to) });
    }
  });
  for (const [from, banned] of Object.entries(APART)) {
    for (const to of Object.keys(APART)) if (to !== from) cases.push({ from, to, banned: banned.includes(to) });
    cases.push({ from, to: all[0]!, banned: false });
  }

  it('cover every layer and every folder that ships apart', () => {
    expect(new Set(cases.map((c) => c.from))).toEqual(new Set([...all, ...Object.keys(APART)]));
    expect(cases.filter((c) => c.banned).length).toBeGreaterThan(40);
  });

  it.each(cases)('$from → $to: restricted = $banned', async ({ from, to, banned }) => {
    expect(await restricted(from, to)).toBe(banned);
  });

  it('the exceptions are the listed files only', async () => {
    // state may read the phase table, not the rest of core.
    expect(await restricted('state', 'core')).toBe(true);
    const [r] = await eslint.lintText(`import { x } from '../core/phases.js';\nexport const y = x;\n`, { filePath: 'src/state/probe.ts' });
    expect(r?.messages.filter((m) => m.ruleId === 'no-restricted-imports')).toEqual([]);
  });
});
