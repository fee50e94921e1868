// A small, strict argv parser: known flags only, so a typo is an E_USAGE error and not a silent default.
import { UsageError } from '../errors.js';

/** `bool`: a switch; `value`: one value, given at most once; `list`: repeatable, each value may be comma-separated. */
export type FlagKind = 'bool' | 'value' | 'list';

export interface ParsedArgs {
  command: string | undefined;
  flags: Record<string, string | boolean | string[]>;
}

/** Accepted before the command as well as after it. `--json` only reaches verbs that take it (their spec says so). */
const GLOBAL: Record<string, FlagKind> = { config: 'value', json: 'bool', help: 'bool' };

/** The flag name of `--name` or `--name=value`. */
function nameOf(a: string): string {
  const eq = a.indexOf('=');
  return eq === -1 ? a.slice(2) : a.slice(2, eq);
}

/**
 * Splits `[global options] COMMAND [options]`: the command is the first argument that is neither an option nor the
 * value of a leading `--config`. Only the global options may come before it.
 */
export function splitCommand(argv: string[]): { command: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) return { command: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
    const name = nameOf(a);
    if (!(name in GLOBAL)) throw new UsageError('E_USAGE', `unknown option --${name} before the command (only --config, --json and --help go there)`);
    if (GLOBAL[name] === 'value' && !a.includes('=')) i++;
  }
  return { command: undefined, rest: argv };
}

/** Parses the options of one command. `spec` maps each flag to its kind; `--config` and `--help` are always accepted. */
export function parseArgs(argv: string[], spec: Record<string, FlagKind>, command?: string): ParsedArgs {
  const full: Record<string, FlagKind> = { config: 'value', help: 'bool', ...spec };
  const out: ParsedArgs = { command, flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) throw new UsageError('E_USAGE', `unexpected argument ${a}${command ? ` to ${command}` : ''}`);
    const eq = a.indexOf('=');
    const name = nameOf(a);
    const kind = full[name];
    if (kind === undefined) throw new UsageError('E_USAGE', `unknown option --${name}${command ? ` for ${command}` : ''}`);
    if (kind === 'bool') {
      if (eq !== -1) throw new UsageError('E_USAGE', `--${name} takes no value`);
      if (name in out.flags) throw new UsageError('E_USAGE', `--${name} given twice`);
      out.flags[name] = true;
      continue;
    }
    // A value that looks like an option is a missing value (`--out --json`); `--name=--odd` still passes one.
    const value = eq === -1 ? argv[++i] : a.slice(eq + 1);
    if (value === undefined || value === '' || (eq === -1 && value.startsWith('--'))) throw new UsageError('E_USAGE', `--${name} needs a value`);
    if (kind === 'list') {
      const prev = out.flags[name];
      out.flags[name] = [...(Array.isArray(prev) ? prev : []), value];
    } else {
      if (name in out.flags) throw new UsageError('E_USAGE', `--${name} given twice (it takes one value)`);
      out.flags[name] = value;
    }
  }
  return out;
}

export function flagString(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function requireFlag(args: ParsedArgs, name: string): string {
  const v = flagString(args, name);
  if (v === undefined) throw new UsageError('E_USAGE', `--${name} is required`);
  return v;
}

/** Every value of a list flag, repeated (`--key a --key b`) or comma-separated (`--key a,b`), in order. */
export function flagList(args: ParsedArgs, name: string, required = false): string[] {
  const v = args.flags[name];
  const values = (Array.isArray(v) ? v : typeof v === 'string' ? [v] : []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (required && values.length === 0) throw new UsageError('E_USAGE', `--${name} is required`);
  return values;
}
