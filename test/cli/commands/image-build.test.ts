// `upgradectl image build`: its flags and defaults, and the two-word verb through the real command line.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseArgs, type FlagKind } from '../../../src/cli/args.js';
import { VERBS } from '../../../src/cli/verbs.js';
import { DEFAULT_WORK_DIR, imageBuildOptions } from '../../../src/cli/commands/image-build.js';

const CLI = join(process.cwd(), 'dist/src/cli/upgradectl.js');
const spec = Object.fromEntries(Object.entries(VERBS['image build']?.flags ?? {}).map(([n, f]) => [n, f.kind])) as Record<string, FlagKind>;
const parse = (argv: string[]) => imageBuildOptions(parseArgs(argv, spec, 'image build'));

describe('image build options', () => {
  it('has the documented defaults', () => {
    expect(parse(['--dataset', 'tank/img', '--version', '7', '--from-tree', '/srv/root'])).toEqual({
      dataset: 'tank/img', version: 7, tree: '/srv/root', imageFile: 'root.img', workDir: DEFAULT_WORK_DIR, scrubFiles: [],
    });
    expect(parse(['--dataset', 'd', '--version', '1', '--from-tree', 't', '--size', '512', '--scrub', 'a.list,b.list'])).toMatchObject({ sizeMiB: 512, scrubFiles: ['a.list', 'b.list'] });
  });

  const base = ['--dataset', 'd', '--from-tree', 't'];
  it.each([[[...base, '--version', 'x']], [[...base, '--version', '0']], [[...base, '--version', '2', '--size', '1.5']], [base], [['--version', '2', '--from-tree', 't']]])(
    'refuses %j with E_USAGE',
    (argv) => {
      expect(() => parse(argv)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    },
  );
});

describe('upgradectl image build', () => {
  it('answers --help and help image build, and exits 2 on bad usage', async () => {
    const help = await execa('node', [CLI, 'image', 'build', '--help']);
    expect(help.stdout).toContain('usage: upgradectl image build');
    expect((await execa('node', [CLI, 'help', 'image', 'build'])).stdout).toBe(help.stdout);
    const bad = await execa('node', [CLI, 'image', 'build', '--dataset', 'x'], { reject: false });
    expect([bad.exitCode, bad.stderr]).toEqual([2, 'upgradectl: E_USAGE: --version is required']);
    expect((await execa('node', [CLI, 'image'], { reject: false })).exitCode).toBe(2);
  });
});
