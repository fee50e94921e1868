// A small, strict argv parser: known flags only, so a typo is an E_USAGE error and not a silent default.
import { UsageError } from '../errors.js';

export interface ParsedArgs {
  command: string | undefined;
  positional: string[];
  flags: Record<string, string | boolean>;
}

/** `spec` maps each flag to whether it takes a value. `--config` is always accepted. */
export function parseArgs(argv: string[], spec: Record<string, boolean>): ParsedArgs {
  const full: Record<string, boolean> = { config: true, json: false, help: false, ...spec };
  const out: ParsedArgs = { command: undefined, positional: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      if (!(name in full)) throw new UsageError('E_USAGE', `unknown option --${name}`);
      if (full[name]) {
        const value = eq === -1 ? argv[++i] : a.slice(eq + 1);
        if (value === undefined || value === '') throw new UsageError('E_USAGE', `--${name} needs a value`);
        out.flags[name] = value;
      } else {
        if (eq !== -1) throw new UsageError('E_USAGE', `--${name} takes no value`);
        out.flags[name] = true;
      }
    } else if (out.command === undefined) {
      out.command = a;
    } else {
      out.positional.push(a);
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
