#!/usr/bin/env node
// upgradectl: the device's command line (status, prepare, daemon, ...) and the publisher's (keygen, sign, publish).
import { parseArgs, flagString, requireFlag, type ParsedArgs } from './args.js';
import { readConfig, wireAgent } from '../wiring.js';
import { UpgradeError, UsageError, asUpgradeError, type ErrorCode } from '../errors.js';
import { statusCommand, historyCommand, imagesCommand } from './commands/status.js';
import { callDaemon, daemonRunning } from '../daemon/control.js';

/** Exit codes (documented in the README). */
export const EXIT = { ok: 0, error: 1, usage: 2, deferred: 3 } as const;

const USAGE = `usage: upgradectl <command> [options]
device:    status [--json] | history [--json] | images [--json] | cleanup [--dry-run]
           check-in | prepare --manifest URL [--allow-downgrade] | daemon
           apply [--now] | confirm | rollback | grub-cfg --print
publisher: keygen --out NAME | sign --key FILE [--key FILE...] --payload FILE --out FILE
           publish --dataset POOL/DS --out DIR --version N --key FILE [options, see README]
common:    --config FILE (default $UPGRADE_AGENT_CONFIG or /etc/upgrade-agent/config.json)`;

const FLAGS: Record<string, Record<string, boolean>> = {
  status: {}, history: {}, images: {}, cleanup: { 'dry-run': false },
  'check-in': {}, prepare: { manifest: true, 'allow-downgrade': false }, daemon: {},
  apply: { now: false }, confirm: {}, rollback: {}, 'grub-cfg': { print: false },
  keygen: { out: true }, sign: { key: true, payload: true, out: true },
  publish: { dataset: true, out: true, version: true, key: true, label: true, hardware: true, channel: true,
    'expires-days': true, from: true, 'no-full': false, compression: true, 'base-url': true, 'image-file': true },
};

function print(s: string): void {
  if (s) process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
}

async function run(argv: string[]): Promise<number> {
  const command = argv[0];
  if (!command || command === '--help' || command === 'help') {
    print(USAGE);
    return command ? EXIT.ok : EXIT.usage;
  }
  const spec = FLAGS[command];
  if (!spec) throw new UsageError('E_USAGE', `unknown command ${command}\n${USAGE}`);
  const args: ParsedArgs = parseArgs(argv, spec);
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
      return deviceAction(command, args, cfgPath, json);
    case 'daemon': {
      const { runDaemon } = await import('./commands/daemon.js');
      return runDaemon(readConfig(cfgPath));
    }
    case 'cleanup': {
      const { cleanupCommand } = await import('./commands/cleanup.js');
      const config = readConfig(cfgPath);
      const agent = wireAgent(config);
      try {
        print(await cleanupCommand(agent, args.flags['dry-run'] === true, json));
      } finally {
        agent.close();
      }
      return EXIT.ok;
    }
    case 'apply':
    case 'confirm':
    case 'rollback':
    case 'grub-cfg': {
      const { switchCommand } = await import('./commands/switch.js');
      print(await switchCommand(command, readConfig(cfgPath), args.flags['now'] === true));
      return EXIT.ok;
    }
    case 'keygen':
    case 'sign':
    case 'publish': {
      const { publisherCommand } = await import('./commands/publisher.js');
      print(await publisherCommand(command, args));
      return EXIT.ok;
    }
  }
  throw new UsageError('E_USAGE', `unknown command ${command}`);
}

/** check-in / prepare: handed to the daemon when it runs (one runner at a time), else run in this process. */
async function deviceAction(command: 'check-in' | 'prepare', args: ParsedArgs, cfgPath: string | undefined, json: boolean): Promise<number> {
  const config = readConfig(cfgPath);
  const manifestUrl = command === 'prepare' ? requireFlag(args, 'manifest') : undefined;
  const allowDowngrade = args.flags['allow-downgrade'] === true;
  let result: unknown;
  if (await daemonRunning(config.paths.socket)) {
    result = await callDaemon(config.paths.socket, 'POST', command === 'prepare' ? '/prepare' : '/check-in', { manifestUrl, allowDowngrade });
  } else {
    const { runLocally } = await import('./commands/local.js');
    result = await runLocally(config, command, manifestUrl, allowDowngrade);
  }
  const { statusCommand: status } = await import('./commands/status.js');
  print(json ? JSON.stringify(result, null, 2) : await status(config, false));
  type Outcome = { outcome?: { kind?: string } | null } | null;
  const r = result as (Outcome & { prepared?: Outcome }) | null;
  const phase = (r?.outcome ?? r?.prepared?.outcome)?.kind;
  return phase === 'failed' ? EXIT.error : phase === 'retry' ? EXIT.deferred : EXIT.ok;
}

function exitCodeFor(err: UpgradeError): number {
  const usage: ErrorCode[] = ['E_USAGE', 'E_CONFIG_READ', 'E_CONFIG_PARSE', 'E_CONFIG_UNKNOWN_KEY', 'E_CONFIG_INVALID'];
  // "Come back later" that outlasted a foreground wait (a manifest still being built): deferred, not failed.
  if (err.code === 'E_RETRY_LATER') return EXIT.deferred;
  return usage.includes(err.code) ? EXIT.usage : EXIT.error;
}

run(process.argv.slice(2)).then(
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
