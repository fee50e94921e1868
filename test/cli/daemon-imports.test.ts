// The idle daemon's memory budget (docs/benchmarks.md, "Idle daemon memory"): which packages its static imports load.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it, expect } from 'vitest';

/** Value imports and re-exports of a TS source (`import type`/`export type` are erased; dynamic import() is not followed). */
export function staticSpecifiers(source: string): string[] {
  const out: string[] = [];
  const re = /^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?'([^']+)'/gm;
  for (const m of source.matchAll(re)) if (m[1]) out.push(m[1]);
  return out;
}

/** Every package reached from `entries` through static imports of src/ files. */
function packagesReached(entries: string[]): { packages: Set<string>; files: number } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const todo = entries.map((e) => resolve(e));
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of staticSpecifiers(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) todo.push(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { packages, files: seen.size };
}

describe('the daemon\'s static imports', () => {
  it('parse value imports and re-exports, not type-only ones', () => {
    const src = "import { a } from 'execa';\nimport type { B } from 'tweetnacl';\nexport { c } from './c.js';\nexport type { D } from './d.js';\nimport './side.js';\nconst x = await import('node-cron');\n";
    expect(staticSpecifiers(src)).toEqual(['execa', './c.js', './side.js']);
  });

  it('load pino and better-sqlite3 only: execa, tweetnacl and node-cron are required at first use', () => {
    const { packages, files } = packagesReached(['src/cli/upgradectl.ts', 'src/cli/commands/daemon.ts']);
    expect(files).toBeGreaterThan(50);
    expect([...packages].sort()).toEqual(['better-sqlite3', 'pino']);
  });
});
