// kill -9 of `upgradectl image build` at each of its crash points, then the same command again: it completes.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildSandbox, type BuildSandbox } from '../../support/build-fixture.js';
import { makeTree } from '../../support/root-tree.js';
import { BUILD_CRASH_POINTS } from '../../../src/publish/build/build-state.js';

const CLI = join(process.cwd(), 'dist/src/cli/upgradectl.js');

let sb: BuildSandbox;
let trees: string[];
/** treeSha256 of each tree, from builds that were never interrupted. */
const want: string[] = [];

const build = (dataset: string, version: number, tree: string, env: Record<string, string> = {}) =>
  execa('node', [CLI, 'image', 'build', '--dataset', dataset, '--version', String(version), '--from-tree', tree, '--work-dir', sb.workDir, ...(version === 1 ? ['--size', '64'] : [])], {
    reject: false,
    env,
  });

beforeAll(async () => {
  sb = await buildSandbox('crash');
  trees = [1, 2].map((r) => makeTree(join(sb.base, `tree${r}`), { release: r }));
  const ref = await sb.dataset('ref');
  for (const [i, tree] of trees.entries()) want.push((await sb.build({ dataset: ref, version: i + 1, tree, sizeMiB: 64 })).contents.treeSha256);
  expect(want[0]).not.toBe(want[1]);
});
afterAll(async () => {
  await sb?.close();
});

describe('image build killed at a crash point, run again', () => {
  let ds: string;
  let version = 0;

  beforeAll(async () => {
    ds = await sb.dataset('crash');
  });

  it.each(BUILD_CRASH_POINTS.map((p) => [p]))('%s: the re-run completes with the tree in a clean image', async (point) => {
    version++;
    const tree = trees[version % 2] as string;
    const killed = await build(ds, version, tree, { UPGRADE_AGENT_CRASH_AT: point });
    expect(killed.signal).toBe('SIGKILL');
    const again = await build(ds, version, tree);
    expect(again.stderr.split('\n').filter((l) => l.includes('"level":50'))).toEqual([]);
    expect(again.exitCode).toBe(0);
    const out = JSON.parse(again.stdout) as { snapshot: string; treeSha256: string };
    expect(out.snapshot).toBe(`${ds}@${version}`);
    expect(out.treeSha256).toBe(want[version % 2]);
    expect((await sb.zfs.snapshots(ds)).map((s) => s.version)).toEqual(Array.from({ length: version }, (_, i) => i + 1));
    expect(await sb.fsck(`${ds}@${version}`)).toBe(0);
    expect(sb.mountsUnder(sb.workDir)).toEqual([]);
    expect(await sb.loopsUnder(sb.workDir)).toEqual([]);
  });

  it('a re-run with another tree after a kill starts over cleanly and builds that tree', async () => {
    version++;
    const killed = await build(ds, version, trees[0] as string, { UPGRADE_AGENT_CRASH_AT: 'build:mounted' });
    expect(killed.signal).toBe('SIGKILL');
    expect(sb.mountsUnder(sb.workDir)).toHaveLength(1); // the kernel keeps a killed build's loop mount
    const again = await build(ds, version, trees[1] as string);
    expect(again.exitCode).toBe(0);
    expect((JSON.parse(again.stdout) as { treeSha256: string }).treeSha256).toBe(want[1]);
    expect(sb.mountsUnder(sb.workDir)).toEqual([]);
    expect(await sb.loopsUnder(sb.workDir)).toEqual([]);
  });
});
