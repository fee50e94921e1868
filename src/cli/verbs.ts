// Every verb's flags and help text in one table: the parser's spec, `upgradectl --help` and `upgradectl VERB --help`.
import type { FlagKind } from './args.js';

export interface FlagDoc {
  kind: FlagKind;
  /** The value's placeholder in the help (value and list flags). */
  arg?: string;
  help: string;
}

export interface Verb {
  group: 'device' | 'publisher' | 'fleet';
  summary: string;
  /** Whether the verb prints JSON on `--json`. */
  json: boolean;
  flags: Record<string, FlagDoc>;
}

const JSON_FLAG = 'print JSON instead of text';
/** Every `fleet` verb reaches the server's admin API the same way. */
const SERVER_FLAGS: Record<string, FlagDoc> = {
  server: { kind: 'value', arg: 'URL', help: 'the fleet server (default $UPGRADE_FLEET_SERVER)' },
  'token-file': { kind: 'value', arg: 'FILE', help: "file holding the admin bearer token, the server's adminTokenFile (default $UPGRADE_FLEET_TOKEN_FILE)" },
  'ca-file': { kind: 'value', arg: 'FILE', help: "PEM of the CA that signed the server's certificate (default $UPGRADE_FLEET_CA_FILE, else the system roots)" },
  timeout: { kind: 'value', arg: 'SEC', help: 'give up on the server after this many seconds (default 30)' },
};
const ROLLOUT_ID: FlagDoc = { kind: 'value', arg: 'N', help: 'the rollout (its #id in fleet status; required)' };
/** sign and publish take the signers' keys the same way. */
const KEY_FLAG: FlagDoc = { kind: 'list', arg: 'FILE', help: 'secret key file (required); repeat it or separate with commas for several signers' };

export const VERBS: Record<string, Verb> = {
  status: { group: 'device', json: true, flags: {}, summary: 'the device, its deployment, images, window and daemon; reads the state read-only (works with the daemon down)' },
  history: { group: 'device', json: true, flags: {}, summary: 'the journal, newest 500 rows (retention: state.journalMax* in docs/configuration.md)' },
  images: { group: 'device', json: true, flags: {}, summary: 'the image files present' },
  cleanup: {
    group: 'device', json: true, summary: 'retention: keeps space.keepImages images, never the booted, committed or trial one; refused during a switch',
    flags: { 'dry-run': { kind: 'bool', help: 'show what would be deleted, delete nothing' } },
  },
  'check-in': { group: 'device', json: true, flags: {}, summary: 'check in with the fleet now and prepare the target it names (handed to the daemon when it runs)' },
  prepare: {
    group: 'device', json: true, summary: 'fetch, verify and prepare the image of a signed manifest (or an offline bundle) up to ready (handed to the daemon when it runs)',
    flags: {
      manifest: { kind: 'value', arg: 'URL', help: 'the signed manifest (this or --bundle is required)' },
      bundle: { kind: 'value', arg: 'FILE', help: 'an offline bundle made by `upgradectl bundle` (instead of --manifest); resumes from the same file' },
      'allow-downgrade': { kind: 'bool', help: 'accept a version below the floor' },
    },
  },
  daemon: { group: 'device', json: false, flags: {}, summary: 'the service: jittered check-ins, resumes interrupted work, switches in the window' },
  apply: {
    group: 'device', json: false, summary: 'switch to a ready image: in the maintenance window when idle, or now (pre-flight still runs); may reboot',
    flags: { now: { kind: 'bool', help: 'do not wait for the window or for idle' } },
  },
  confirm: { group: 'device', json: false, flags: {}, summary: 'after a boot: health checks, then commit the trial; or record the fallback' },
  rollback: { group: 'device', json: false, flags: {}, summary: 'give up an unconfirmed trial (before its boot: disarm; during it: reboot back)' },
  'grub-cfg': {
    group: 'device', json: false, summary: 'the grub.cfg the agent would write (used by grub.d/09_upgrade_agent)',
    flags: { print: { kind: 'bool', help: 'print it to stdout' } },
  },
  keygen: {
    group: 'publisher', json: false, summary: 'make an ed25519 key pair: NAME.key (0600) and NAME.pub',
    flags: { out: { kind: 'value', arg: 'NAME', help: 'file name prefix (required)' } },
  },
  sign: {
    group: 'publisher', json: false, summary: 'sign a payload with one or more keys (multi-party signing) into a manifest envelope',
    flags: {
      key: KEY_FLAG,
      payload: { kind: 'value', arg: 'FILE', help: 'the payload JSON (required)' },
      out: { kind: 'value', arg: 'FILE', help: 'the envelope to write (required)' },
    },
  },
  delegate: {
    group: 'publisher', json: false,
    summary: 'sign (offline) delegations/N.json: lets the fleet server\'s online key vouch for diffs to N it builds on demand from the bases given',
    flags: {
      'publish-dir': { kind: 'value', arg: 'DIR', help: 'the directory publish wrote, holding manifests/N.json (required)' },
      version: { kind: 'value', arg: 'N', help: 'the published version (required)' },
      key: KEY_FLAG,
      'online-key': { kind: 'value', arg: 'FILE.pub', help: 'the public half of the server\'s diffs.delegateKeyFile (required)' },
      bases: { kind: 'value', arg: 'MIN-MAX', help: 'the base versions it may build diffs from, e.g. 3-11 (required)' },
      days: { kind: 'value', arg: 'D', help: 'valid for this many days (default 30)' },
      'max-size': { kind: 'value', arg: 'BYTES', help: 'the largest diff it may vouch for (required; e.g. the full stream\'s size)' },
      compression: { kind: 'value', arg: 'xz|none', help: 'the diffs\' compression, as the server\'s diffs.compression (default xz)' },
    },
  },
  bundle: {
    group: 'publisher', json: false, summary: 'pack manifests/N.json of a publish directory and the streams devices need into one file, for prepare --bundle',
    flags: {
      'publish-dir': { kind: 'value', arg: 'DIR', help: 'the directory publish wrote (required)' },
      version: { kind: 'value', arg: 'N', help: 'the version whose manifest goes in (required)' },
      from: { kind: 'list', arg: 'N|full', help: 'bases whose streams go in, `full` for the full stream (default every stream the manifest offers); repeat or separate with commas' },
      out: { kind: 'value', arg: 'FILE', help: 'the bundle to write (required)' },
    },
  },
  publish: {
    group: 'publisher', json: false, summary: 'zfs send diffs (and a full stream) of POOL/DS@N, compressed, plus a signed manifests/N.json, into DIR',
    flags: {
      dataset: { kind: 'value', arg: 'POOL/DS', help: 'the dataset holding the image snapshots (required)' },
      version: { kind: 'value', arg: 'N', help: 'the snapshot to publish, POOL/DS@N (required)' },
      out: { kind: 'value', arg: 'DIR', help: 'directory to write manifests/ and streams/ into (required)' },
      key: KEY_FLAG,
      hardware: { kind: 'list', arg: 'NAME', help: 'hardware the image is for (required); repeat or separate with commas' },
      channel: { kind: 'value', arg: 'NAME', help: 'channel (default stable)' },
      label: { kind: 'value', arg: 'TEXT', help: 'label shown by status (default "version N")' },
      'expires-days': { kind: 'value', arg: 'DAYS', help: 'the manifest expires this many days after it is issued (default 30)' },
      from: { kind: 'list', arg: 'N', help: 'base versions of the diffs (default every earlier snapshot); repeat or separate with commas' },
      'no-full': { kind: 'bool', help: 'no full stream, diffs only' },
      chunks: { kind: 'bool', help: 'also sign per-chunk hashes (only once no device runs an agent from before them)' },
      compression: { kind: 'value', arg: 'xz|none', help: 'stream compression (default xz)' },
      'base-url': { kind: 'list', arg: 'URL', help: 'mirror serving the same directory; repeat or separate with commas for several' },
      'image-file': { kind: 'value', arg: 'FILE', help: 'the image inside a file-layout dataset (default root.img)' },
    },
  },
  'image build': {
    group: 'publisher', json: false,
    summary: 'write a root tree into (a copy of) the previous version\'s image, scrub per-machine state, e2fsck it, write it back chunk by chunk and snapshot POOL/DS@N',
    flags: {
      dataset: { kind: 'value', arg: 'POOL/DS', help: 'the file-layout dataset holding the image snapshots (required)' },
      version: { kind: 'value', arg: 'N', help: 'the version to build, above the newest snapshot (required)' },
      'from-tree': { kind: 'value', arg: 'DIR', help: 'the new root tree, a directory (required; unpack a tar first: README, "Publishing")' },
      'image-file': { kind: 'value', arg: 'FILE', help: 'the image inside the dataset (default root.img)' },
      'work-dir': { kind: 'value', arg: 'DIR', help: 'where the image is copied to and loop-mounted, never on ZFS (default /var/tmp/upgradectl-build)' },
      size: { kind: 'value', arg: 'MIB', help: 'size of a first version\'s new image (only when the dataset has no snapshot yet)' },
      scrub: { kind: 'list', arg: 'FILE', help: 'a scrub list of your own, after the built-in one; repeat or separate with commas' },
      'no-trim': { kind: 'bool', help: 'leave freed blocks as they were instead of zeroing them (smaller diffs, larger full streams)' },
    },
  },
  serve: {
    group: 'fleet', json: false, flags: {},
    summary: 'run the fleet server of server.json (--config, required): manifests, streams, diffs on demand, check-ins, rollouts, admin API; stops on SIGTERM/SIGINT',
  },
  'fleet status': {
    group: 'fleet', json: true, flags: SERVER_FLAGS,
    summary: 'devices per version and phase, rollouts and their progress, failing devices with their last error, silent devices, built diffs',
  },
  'fleet start': {
    group: 'fleet', json: true, summary: 'start a staged rollout of a version to a share of one channel and hardware',
    flags: {
      ...SERVER_FLAGS,
      channel: { kind: 'value', arg: 'NAME', help: 'channel (required)' },
      hardware: { kind: 'value', arg: 'NAME', help: 'hardware (required)' },
      version: { kind: 'value', arg: 'N', help: 'the published version (required)' },
      percent: { kind: 'value', arg: 'P', help: 'share of devices offered it first, 0..100 (required)' },
      step: { kind: 'value', arg: 'P', help: 'widen by this many percent on a schedule (with --every)' },
      every: { kind: 'value', arg: 'DURATION', help: 'the schedule: 30m, 6h, 1d, or seconds (with --step)' },
    },
  },
  'fleet widen': {
    group: 'fleet', json: true, summary: 'set a rollout to a larger (or smaller) share',
    flags: { ...SERVER_FLAGS, id: ROLLOUT_ID, percent: { kind: 'value', arg: 'P', help: 'the new share, 0..100 (required)' } },
  },
  'fleet pause': { group: 'fleet', json: true, summary: 'stop offering a rollout to devices not yet on it (devices mid-way finish)', flags: { ...SERVER_FLAGS, id: ROLLOUT_ID } },
  'fleet resume': { group: 'fleet', json: true, summary: 'resume a rollout paused by the operator or by its failure threshold', flags: { ...SERVER_FLAGS, id: ROLLOUT_ID } },
  'fleet pin': {
    group: 'fleet', json: true, summary: 'pin a device to a version (--version), to what it runs (--stay), or unpin it (--remove)',
    flags: {
      ...SERVER_FLAGS,
      device: { kind: 'value', arg: 'ID', help: 'the device id (required)' },
      version: { kind: 'value', arg: 'N', help: 'offer it this version whatever the rollouts say' },
      stay: { kind: 'bool', help: 'offer it nothing' },
      remove: { kind: 'bool', help: 'remove its pin: rollouts decide again' },
    },
  },
  'fleet hold': {
    group: 'fleet', json: true, summary: 'hold a version: no rollout offers it (--release lifts the hold)',
    flags: { ...SERVER_FLAGS, version: { kind: 'value', arg: 'N', help: 'the version (required)' }, release: { kind: 'bool', help: 'lift the hold' } },
  },
};

export const CONFIG_HELP = '--config FILE (default $UPGRADE_AGENT_CONFIG or /etc/upgrade-agent/config.json)';

function flagSynopsis(name: string, f: FlagDoc): string {
  return f.kind === 'bool' ? `--${name}` : `--${name} ${f.arg ?? 'VALUE'}${f.kind === 'list' ? '...' : ''}`;
}

/** `upgradectl VERB --help`: what the verb does and each of its flags. */
export function verbHelp(name: string): string {
  const v = VERBS[name] as Verb;
  const flags = Object.entries(v.flags).map(([n, f]) => [flagSynopsis(n, f), f.help] as const);
  if (v.json) flags.push(['--json', JSON_FLAG]);
  if (v.group === 'device') flags.push(['--config FILE', 'the configuration (default $UPGRADE_AGENT_CONFIG or /etc/upgrade-agent/config.json)']);
  if (name === 'serve') flags.push(['--config FILE', 'the server.json (required; docs/fleet-server.md)']);
  flags.push(['--help', 'this help']);
  const width = Math.max(...flags.map(([s]) => s.length));
  return [`usage: upgradectl ${name}${flags.length > 1 ? ' [options]' : ''}`, '', v.summary, '', 'options:', ...flags.map(([s, h]) => `  ${s.padEnd(width)}  ${h}`)].join('\n');
}

export const USAGE = `usage: upgradectl [--config FILE] <command> [options]
device:    status [--json] | history [--json] | images [--json] | cleanup [--dry-run] [--json]
           check-in [--json] | prepare (--manifest URL | --bundle FILE) [--allow-downgrade] [--json] | daemon
           apply [--now] | confirm | rollback | grub-cfg --print
publisher: keygen --out NAME | sign --key FILE [--key FILE...] --payload FILE --out FILE
           publish --dataset POOL/DS --out DIR --version N --key FILE... --hardware NAME... [options]
           bundle --publish-dir DIR --version N [--from N|full...] --out FILE
           delegate --publish-dir DIR --version N --key K --online-key FILE.pub --bases MIN-MAX --max-size BYTES
           image build --dataset POOL/DS --version N --from-tree DIR [options]
fleet:     serve --config server.json | fleet status [--json]
           fleet start|widen|pause|resume|pin|hold [options] (--server URL --token-file FILE [--ca-file FILE])
common:    ${CONFIG_HELP}, before or after the command
           upgradectl COMMAND --help (or upgradectl help COMMAND): that command's options`;
