// Publisher verbs: keygen (ed25519 key files), sign (payload -> envelope), publish (diffs + signed manifest), bundle, delegate.
import { readFileSync } from 'node:fs';
import { flagList, flagString, requireFlag, type ParsedArgs } from '../args.js';
import { generateKeyPair, loadPublicKey, loadSecretKey, writePublicKeyFile, writeSecretKeyFile } from '../../trust/keys.js';
import { signPayload } from '../../trust/sign.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { UsageError } from '../../errors.js';
import { publish, type PublishOptions } from '../../publish/publish.js';
import { writeBundle } from '../../publish/bundle.js';
import { writeDelegation } from '../../publish/delegate.js';
import { ZfsCli } from '../../adapters/zfs.js';
import { silentLogger } from '../../log.js';

function intFlag(args: ParsedArgs, name: string, def?: number): number {
  const v = flagString(args, name);
  if (v === undefined) {
    if (def === undefined) throw new UsageError('E_USAGE', `--${name} is required`);
    return def;
  }
  if (!/^\d+$/.test(v)) throw new UsageError('E_USAGE', `--${name} must be a whole number`);
  return Number(v);
}

/** `publish`'s options from its flags, with the defaults the README documents; loads the key files. */
export function publishOptions(args: ParsedArgs): PublishOptions {
  const version = intFlag(args, 'version');
  const from = flagList(args, 'from').map((s) => {
    if (!/^\d+$/.test(s)) throw new UsageError('E_USAGE', '--from takes versions (whole numbers), repeated or comma-separated');
    return Number(s);
  });
  const compression = flagString(args, 'compression') ?? 'xz';
  if (compression !== 'xz' && compression !== 'none') throw new UsageError('E_USAGE', '--compression is xz or none');
  return {
    dataset: requireFlag(args, 'dataset'),
    outDir: requireFlag(args, 'out'),
    version,
    label: flagString(args, 'label') ?? `version ${version}`,
    hardware: flagList(args, 'hardware', true),
    channel: flagString(args, 'channel') ?? 'stable',
    expiresDays: intFlag(args, 'expires-days', 30),
    from: from.length ? from : 'all',
    full: args.flags['no-full'] !== true,
    chunks: args.flags['chunks'] === true,
    compression,
    mirrors: flagList(args, 'base-url'),
    imageFile: flagString(args, 'image-file') ?? 'root.img',
    keys: flagList(args, 'key', true).map(loadSecretKey),
  };
}

export async function publisherCommand(command: 'keygen' | 'sign' | 'bundle' | 'publish' | 'delegate', args: ParsedArgs): Promise<string> {
  switch (command) {
    case 'keygen': {
      const out = requireFlag(args, 'out');
      const kp = generateKeyPair();
      writeSecretKeyFile(`${out}.key`, { keyid: kp.keyid, secretKey: kp.secretKey });
      writePublicKeyFile(`${out}.pub`, { keyid: kp.keyid, publicKey: kp.publicKey });
      return JSON.stringify({ keyid: kp.keyid, publicKey: kp.publicKey, secretKeyFile: `${out}.key`, publicKeyFile: `${out}.pub` });
    }
    case 'sign': {
      const keys = flagList(args, 'key', true).map(loadSecretKey);
      const payload = readFileSync(requireFlag(args, 'payload'));
      const out = requireFlag(args, 'out');
      writeFileAtomic(out, JSON.stringify(signPayload(payload, keys)));
      return out;
    }
    case 'bundle': {
      const from = flagList(args, 'from').map((s) => {
        if (s === 'full') return null;
        if (!/^\d+$/.test(s)) throw new UsageError('E_USAGE', '--from takes base versions (whole numbers) or full, repeated or comma-separated');
        return Number(s);
      });
      const result = await writeBundle({ publishDir: requireFlag(args, 'publish-dir'), version: intFlag(args, 'version'), from: from.length ? from : 'all', out: requireFlag(args, 'out') });
      return JSON.stringify(result, null, 2);
    }
    case 'delegate': {
      const version = intFlag(args, 'version');
      const bases = /^(\d+)-(\d+)$/.exec(requireFlag(args, 'bases'));
      if (!bases) throw new UsageError('E_USAGE', '--bases is MIN-MAX, e.g. 3-11');
      const notAfter = new Date(Date.now() + intFlag(args, 'days', 30) * 86_400_000);
      const compression = flagString(args, 'compression') ?? 'xz';
      if (compression !== 'xz' && compression !== 'none') throw new UsageError('E_USAGE', '--compression is xz or none');
      const path = writeDelegation({
        publishDir: requireFlag(args, 'publish-dir'), version, keys: flagList(args, 'key', true).map(loadSecretKey),
        online: loadPublicKey(requireFlag(args, 'online-key')), bases: { min: Number(bases[1]), max: Number(bases[2]) },
        notAfter, maxSize: intFlag(args, 'max-size'), compression,
      }, new Date());
      return JSON.stringify({ delegation: path, version, bases: { min: Number(bases[1]), max: Number(bases[2]) }, notAfter: notAfter.toISOString() });
    }
    case 'publish': {
      const result = await publish({ zfs: new ZfsCli({ busyTimeoutSec: 30, log: silentLogger() }), now: () => Date.now() }, publishOptions(args));
      return JSON.stringify(result, null, 2);
    }
  }
}
