// lintian passes on both packages: no error or warning; the overrides it applies are the ones packaging/deb lists with reasons.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { ensurePackages } from './support/packages.js';

describe('lintian', () => {
  it('reports no error or warning on upgrade-agent and upgrade-agent-node', async () => {
    const { agent, node } = await ensurePackages(process.cwd(), (s) => console.log(s));
    const r = await execa('lintian', ['--fail-on', 'error,warning', agent, node], { reject: false, all: true });
    expect((r.all ?? '').split('\n').filter((l) => /^[EW]: /.test(l))).toEqual([]);
    expect(r.exitCode, r.all).toBe(0);
    // (--show-overrides makes lintian exit 2 for overridden errors: only its output is looked at.)
    const lines = ((await execa('lintian', ['--show-overrides', agent, node], { reject: false, all: true })).all ?? '').split('\n');
    // Every override listed is used (an unused one would mean the packaging changed under it).
    const listed = ['lintian-overrides', 'node-lintian-overrides'].flatMap((f) =>
      readFileSync(`packaging/deb/${f}`, 'utf8').split('\n').filter((l) => /^upgrade-agent/.test(l)).map((l) => l.split(' ')[1]!));
    const used = new Set(lines.filter((l) => l.startsWith('O: ')).map((l) => l.split(' ')[2]));
    expect(listed.filter((t) => !used.has(t))).toEqual([]);
  });
});
