// Publisher verbs: keygen (ed25519 key files), sign (payload -> envelope), publish (diffs + signed manifest).
import { readFileSync } from 'node:fs';
import { flagString, requireFlag, type ParsedArgs } from '../args.js';
import { generateKeyPair, loadSecretKey, writePublicKeyFile, writeSecretKeyFile } from '../../trust/keys.js';
import { signPayload } from '../../trust/sign.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { UsageError } from '../../errors.js';
import { publish } from '../../publish/publish.js';
import { ZfsCli } from '../../adapters/zfs.js';
import { silentLogger } from '../../log.js';

/** Repeated flags are not supported by the parser: lists are comma-separated. */
function list(v: string | undefined): string[] {
  return v === undefined ? [] : v.split(',').map((s) => s.trim()).filter(Boolean);
}

function intFlag(args: ParsedArgs, name: string, def?: number): number {
  const v = flagString(args, name);
  if (v === undefined) {
    if (def === undefined) throw new UsageError('E_USAGE', `--${name} is required`);
    return def;
  }
  if (!/^\d+$/.test(v)) throw new UsageError('E_USAGE', `--${name} must be a whole number`);
  return Number(v);
}

export async function publisherCommand(command: 'keygen' | 'sign' | 'publish', args: ParsedArgs): Promise<string> {
  switch (command) {
    case 'keygen': {
      const out = requireFlag(args, 'out');
      const kp = generateKeyPair();
      writeSecretKeyFile(`${out}.key`, { keyid: kp.keyid, secretKey: kp.secretKey });
      writePublicKeyFile(`${out}.pub`, { keyid: kp.keyid, publicKey: kp.publicKey });
      return JSON.stringify({ keyid: kp.keyid, publicKey: kp.publicKey, secretKeyFile: `${out}.key`, publicKeyFile: `${out}.pub` });
    }
    case 'sign': {
      const keys = list(requireFlag(args, 'key')).map(loadSecretKey);
      const payload = readFileSync(requireFlag(args, 'payload'));
      const out = requireFlag(args, 'out');
      writeFileAtomic(out, JSON.stringify(signPayload(payload, keys)));
      return out;
    }
    case 'publish': {
      const version = intFlag(args, 'version');
      const from = list(flagString(args, 'from')).map((s) => {
        if (!/^\d+$/.test(s)) throw new UsageError('E_USAGE', '--from takes comma-separated versions');
        return Number(s);
      });
      const compression = flagString(args, 'compression') ?? 'xz';
      if (compression !== 'xz' && compression !== 'none') throw new UsageError('E_USAGE', '--compression is xz or none');
      const hardware = list(requireFlag(args, 'hardware'));
      const result = await publish(
        { zfs: new ZfsCli({ busyTimeoutSec: 30, log: silentLogger() }), now: () => Date.now() },
        {
          dataset: requireFlag(args, 'dataset'),
          outDir: requireFlag(args, 'out'),
          version,
          label: flagString(args, 'label') ?? `version ${version}`,
          hardware,
          channel: flagString(args, 'channel') ?? 'stable',
          expiresDays: intFlag(args, 'expires-days', 30),
          from: from.length ? from : 'all',
          full: args.flags['no-full'] !== true,
          compression,
          mirrors: list(flagString(args, 'base-url')),
          imageFile: flagString(args, 'image-file') ?? 'root.img',
          keys: list(requireFlag(args, 'key')).map(loadSecretKey),
        },
      );
      return JSON.stringify(result, null, 2);
    }
  }
}
