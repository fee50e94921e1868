// The argv parser: repeated list flags accumulate, a repeated single-valued flag is refused, global options go first.
import { describe, it, expect } from 'vitest';
import { flagList, flagString, parseArgs, splitCommand } from '../../src/cli/args.js';

const usage = expect.objectContaining({ code: 'E_USAGE' });

describe('parseArgs', () => {
  const spec = { key: 'list', out: 'value', now: 'bool' } as const;

  it('accumulates a repeated list flag, and splits commas, in order', () => {
    const a = parseArgs(['--key', 'a.key', '--key=b.key', '--key', 'c.key,d.key'], spec);
    expect(flagList(a, 'key')).toEqual(['a.key', 'b.key', 'c.key', 'd.key']);
  });

  it('refuses a repeated single-valued flag or switch instead of keeping the last', () => {
    expect(() => parseArgs(['--out', 'x', '--out', 'y'], spec)).toThrow(usage);
    expect(() => parseArgs(['--out=x', '--out=y'], spec)).toThrow(usage);
    expect(() => parseArgs(['--now', '--now'], spec)).toThrow(usage);
    expect(() => parseArgs(['--config', 'a', '--config', 'b'], spec)).toThrow(usage);
  });

  it('refuses unknown flags, stray arguments and a missing value (also one that is the next option)', () => {
    expect(() => parseArgs(['--outt', 'x'], spec)).toThrow(usage);
    expect(() => parseArgs(['extra'], spec)).toThrow(usage);
    expect(() => parseArgs(['--out'], spec)).toThrow(usage);
    expect(() => parseArgs(['--out', '--now'], spec)).toThrow(usage);
    expect(() => parseArgs(['--now=1'], spec)).toThrow(usage);
    expect(flagString(parseArgs(['--out=--odd'], spec), 'out')).toBe('--odd');
  });

  it('a required list flag needs at least one value', () => {
    expect(() => flagList(parseArgs([], spec), 'key', true)).toThrow(usage);
    expect(() => flagList(parseArgs(['--key', ','], spec), 'key', true)).toThrow(usage);
  });
});

describe('splitCommand', () => {
  it('finds the command after global options and keeps them with the rest', () => {
    expect(splitCommand(['--config', 'f.json', 'status', '--json'])).toEqual({ command: 'status', rest: ['--config', 'f.json', '--json'] });
    expect(splitCommand(['--config=f.json', '--json', 'status'])).toEqual({ command: 'status', rest: ['--config=f.json', '--json'] });
    expect(splitCommand(['status', '--config', 'f.json'])).toEqual({ command: 'status', rest: ['--config', 'f.json'] });
    expect(splitCommand(['--help'])).toEqual({ command: undefined, rest: ['--help'] });
  });

  it('refuses a verb option before the command', () => {
    expect(() => splitCommand(['--now', 'apply'])).toThrow(usage);
  });
});
