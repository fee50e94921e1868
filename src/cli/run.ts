// upgradectl's verbs: the device's command line (status, prepare, daemon, ...) and the publisher's (keygen, sign, publish).
import { resolve } from 'node:path';
import { parseArgs, splitCommand, flagString, type FlagKind, type ParsedArgs } from './args.js';
import type { PrepareTarget } from './commands/local.js';
import { USAGE, VERBS, verbHelp } from './verbs.js';
import { outcomeExit } from './outcome.js';
import { readConfig, withDevice, type WiringOptions } from '../wiring.js';
import { UpgradeError, UsageError, asUpgradeError, errorClass } from '../errors.js';
import { statusCommand, historyCommand, imagesCommand } from './commands/status.js';
import { callDaemon, daemonRunning } from '../daemon/control.js';
import { ttyProgress } from './tty-progress.js';
import { withSchema } from './status-view.js';

/** Exit codes (documented in the README). */
export const EXIT = { ok: 0, error: 1, usage: 2, deferred: 3 } as const;

function print(s: string): void {
  if (s) process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
}

/** Verbs of two words (`image build`): the second word joins the command (also after `help`). */
function joinSubcommand(command: string | undefined, rest: string[]): { command: string | undefined; rest: string[] } {
  const at = command === 'help' ? 1 : 0;
  const group = command === 'help' ? rest[0] : command;
  const sub = rest[at];
  if (group !== 'image' || sub === undefined || sub.startsWith('--')) return { command, rest };
  const joined = `${group} ${sub}`;
  return command === 'help' ? { command, rest: [joined, ...rest.slice(2)] } : { command: joined, rest: rest.slice(1) };
}

async function run(argv: string[], wiring: WiringOptions): Promise<number> {
  const split = splitCommand(argv);
  const { command, rest } = split.command === 'fleet' ? fleetCommand(split.rest) : joinSubcommand(split.command, split.rest);
  if (command === undefined || command === 'help') {
    const topic = command !== 'help' ? undefined : rest[0] === 'fleet' ? `fleet ${rest[1] ?? ''}` : rest[0];
    if (topic !== undefined && !Object.hasOwn(VERBS, topic)) throw new UsageError('E_USAGE', `unknown command ${topic}\n${USAGE}`);
    print(topic === undefined ? USAGE : verbHelp(topic));
    return command === 'help' || rest.includes('--help') ? EXIT.ok : EXIT.usage;
  }
  const verb = Object.hasOwn(VERBS, command) ? VERBS[command] : undefined;
  if (!verb) throw new UsageError('E_USAGE', `unknown command ${command}\n${USAGE}`);
  const spec: Record<string, FlagKind> = Object.fromEntries(Object.entries(verb.flags).map(([n, f]) => [n, f.kind]));
  if (verb.json) spec['json'] = 'bool';
  const args: ParsedArgs = parseArgs(rest, spec, command);
  if (args.flags['help'] === true) {
    print(verbHelp(command));
    return EXIT.ok;
  }
  const json = args.flags['json'] === true;
  const cfgPath = flagString(args, 'config');
  switch (command) {
    case 'status':
      print(await statusCommand(readConfig(cfgPath), json));
      return EXIT.ok;
    case 'history':
      print(historyCommand(readConfig(cfgPath), json));
      return EXIT.ok;
    case 'images':
      print(imagesCommand(readConfig(cfgPath), json));
      return EXIT.ok;
    case 'check-in':
    case 'prepare':
      return deviceAction(command, args, cfgPath, json, wiring);
    case 'daemon': {
      const { runDaemon } = await import('./commands/daemon.js');
      return runDaemon(readConfig(cfgPath), wiring);
    }
    case 'cleanup': {
      const { cleanupCommand } = await import('./commands/cleanup.js');
      print(await withDevice(readConfig(cfgPath), { lock: 'none', progress: ttyProgress(process.stderr) }, (device) => cleanupCommand(device, args.flags['dry-run'] === true, json), wiring));
      return EXIT.ok;
    }
    case 'apply':
    case 'confirm':
    case 'rollback':
    case 'grub-cfg': {
      const { switchCommand } = await import('./commands/switch.js');
      print(await switchCommand(command, readConfig(cfgPath), args.flags['now'] === true, wiring));
      return EXIT.ok;
    }
    case 'keygen':
    case 'sign':
    case 'bundle':
    case 'delegate':
    case 'publish': {
      const { publisherCommand } = await import('./commands/publisher.js');
      print(await publisherCommand(command, args));
      return EXIT.ok;
    }
    case 'image build': {
      const { imageBuildCommand } = await import('./commands/image-build.js');
      print(await imageBuildCommand(args));
      return EXIT.ok;
    }
    case 'serve': {
      const { runServe } = await import('./commands/serve.js');
      return runServe(cfgPath);
    }
  }
  if (command.startsWith('fleet ')) {
    const { fleetVerb } = await import('./commands/fleet.js');
    print(await fleetVerb(command.slice('fleet '.length), args, json));
    return EXIT.ok;
  }
  throw new UsageError('E_USAGE', `unknown command ${command}`);
}

/** prepare's target: a manifest URL or a bundle file (an absolute path: the daemon runs elsewhere), exactly one. */
function prepareTarget(args: ParsedArgs): PrepareTarget {
  const manifestUrl = flagString(args, 'manifest');
  const bundle = flagString(args, 'bundle');
  if ((manifestUrl === undefined) === (bundle === undefined)) throw new UsageError('E_USAGE', 'prepare takes exactly one of --manifest URL or --bundle FILE');
  return bundle !== undefined ? { bundle: resolve(bundle) } : { manifestUrl: manifestUrl as string };
}

/** `fleet SUB ...` is the verb `fleet SUB` of the table. */
function fleetCommand(rest: string[]): { command: string; rest: string[] } {
  const at = rest.findIndex((a) => !a.startsWith('--'));
  const sub = at === -1 ? undefined : rest[at];
  if (sub === undefined || !Object.hasOwn(VERBS, `fleet ${sub}`)) {
    throw new UsageError('E_USAGE', `fleet needs one of: ${Object.keys(VERBS).filter((v) => v.startsWith('fleet ')).map((v) => v.slice(6)).join(', ')}${sub === undefined ? '' : ` (not ${sub})`}`);
  }
  return { command: `fleet ${sub}`, rest: [...rest.slice(0, at), ...rest.slice(at + 1)] };
}

/** check-in / prepare: handed to the daemon when it runs (one runner at a time), else run in this process. */
async function deviceAction(
  command: 'check-in' | 'prepare', args: ParsedArgs, cfgPath: string | undefined, json: boolean, wiring: WiringOptions,
): Promise<number> {
  const config = readConfig(cfgPath);
  const target = command === 'prepare' ? prepareTarget(args) : undefined;
  const allowDowngrade = args.flags['allow-downgrade'] === true;
  let result: unknown;
  if (await daemonRunning(config.paths.socket)) {
    result = await callDaemon(config.paths.socket, 'POST', command === 'prepare' ? '/prepare' : '/check-in', { ...target, allowDowngrade });
  } else {
    const { runLocally } = await import('./commands/local.js');
    result = await runLocally(config, command, target, allowDowngrade, ttyProgress(process.stderr), wiring);
  }
  const { statusCommand: status } = await import('./commands/status.js');
  print(json ? JSON.stringify(withSchema(result), null, 2) : await status(config, false));
  const { exit, line } = outcomeExit(result);
  if (line) process.stderr.write(`${line}\n`);
  return exit;
}

/** The exit code of an error that ended the command: ERROR_CODES' `exit` class, else 1. */
function exitCodeFor(err: UpgradeError): number {
  // 'deferred' is "come back later" that outlasted a foreground wait (a manifest still being built): not failed.
  const exit = errorClass(err.code).exit;
  return exit === undefined ? EXIT.error : EXIT[exit];
}

/** Runs one command line and sets the exit code; `wiring` is the sandbox entry point's (src/sandbox/upgradectl.ts). */
export function runCli(argv: string[], wiring: WiringOptions = {}): Promise<void> {
  return run(argv, wiring).then(
    (code) => {
      process.exitCode = code;
    },
    (raw: unknown) => {
      const err = asUpgradeError(raw);
      process.stderr.write(`upgradectl: ${err.code}: ${err.message}\n`);
      if (err.code === 'E_INTERNAL' && raw instanceof Error && raw.stack) process.stderr.write(`${raw.stack}\n`);
      process.exitCode = exitCodeFor(err);
    },
  );
}
