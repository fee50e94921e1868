// One base error with a stable code; families as subclasses; context chained through `cause`.

/** What the agent does with a code besides reporting it. */
export interface ErrorClass {
  /** The README's meaning of the code (test/docs.test.ts keeps the two equal). */
  message: string;
  /** The runner keeps the phase and retries with backoff (else the deployment fails). */
  transient?: true;
  /** The download tries the next mirror. */
  mirrorFailure?: true;
  /** The partial download's bytes must never be trusted again: the file goes. */
  deletePartial?: true;
  /** upgradectl's exit class: 2 (usage) or 3 (deferred); any other code exits 1. */
  exit?: 'usage' | 'deferred';
}

/** Every code the agent can report, with its class. Stable: operators and fleet servers match on these. */
export const ERROR_CODES = {
  E_USAGE: { message: 'bad command line', exit: 'usage' },
  E_CONFIG_READ: { message: 'config file cannot be read', exit: 'usage' },
  E_CONFIG_PARSE: { message: 'config file is not valid JSON', exit: 'usage' },
  E_CONFIG_UNKNOWN_KEY: { message: 'config has a key the agent does not know', exit: 'usage' },
  E_CONFIG_INVALID: { message: 'config value has the wrong type or range', exit: 'usage' },
  E_KEY_INVALID: { message: 'a key file is malformed' },
  E_MANIFEST_FORMAT: { message: 'manifest envelope is malformed' },
  E_MANIFEST_UNSIGNED: { message: 'manifest has no signatures' },
  E_MANIFEST_SIGNATURE: { message: 'not enough distinct trusted keys signed the manifest' },
  E_MANIFEST_PAYLOAD: { message: 'signed payload is malformed' },
  E_MANIFEST_EXPIRED: { message: 'manifest is past its expiry' },
  E_MANIFEST_ROLLBACK: { message: 'manifest version is below the accepted floor' },
  E_MANIFEST_HARDWARE: { message: 'manifest is for other hardware' },
  E_MANIFEST_CHANNEL: { message: 'manifest is for another channel' },
  E_MANIFEST_TOO_LARGE: { message: 'manifest document exceeds the size cap' },
  E_MANIFEST_NO_STREAM: { message: 'manifest offers no stream this device can use' },
  E_HTTP_STATUS: { message: 'server answered with an unexpected HTTP status', transient: true, mirrorFailure: true },
  E_HTTP_NETWORK: { message: 'network error talking to a server', transient: true, mirrorFailure: true },
  E_HTTP_TIMEOUT: { message: 'server did not answer in time', transient: true, mirrorFailure: true },
  E_HTTP_DEADLINE: { message: 'a manifest or check-in exchange exceeded its overall deadline' },
  E_HTTP_SLOW: { message: 'a manifest or check-in answer arrived slower than the minimum throughput' },
  E_HTTP_REDIRECT: { message: 'a redirect was refused (another scheme, a POST turned into a GET, or too many hops)', transient: true, mirrorFailure: true },
  E_DOWNLOAD_TOO_LARGE: { message: 'server sent more bytes than were signed', mirrorFailure: true, deletePartial: true },
  E_DOWNLOAD_SLOW: { message: 'download throughput stayed under the minimum', transient: true, mirrorFailure: true },
  E_DOWNLOAD_DEADLINE: { message: 'download exceeded its overall deadline', transient: true },
  E_DOWNLOAD_HASH: { message: 'downloaded stream does not match the signed sha256', mirrorFailure: true, deletePartial: true },
  E_DOWNLOAD_TRUNCATED: { message: 'download ended before the signed size', transient: true, mirrorFailure: true },
  E_MIRRORS_EXHAUSTED: { message: 'every mirror failed', transient: true },
  E_RETRY_LATER: { message: 'server asked to come back later', transient: true, exit: 'deferred' },
  E_RETRY_LATER_EXHAUSTED: { message: 'server asked to come back later too many times in a row; counted as a failure', transient: true },
  E_VERIFY_HASH: { message: 'stream does not match the signed sha256 at import time' },
  E_VERIFY_SIZE: { message: 'stream size differs from the signed size at import time' },
  E_ZFS_COMMAND: { message: 'a zfs command failed' },
  E_ZFS_BUSY: { message: 'dataset stayed busy', transient: true },
  E_ZFS_BASE_MISMATCH: { message: "pool's newest snapshot is not the diff's base" },
  E_ZFS_RECV: { message: 'zfs recv rejected the stream' },
  E_ZVOL_DEVICE: { message: "a zvol's block device did not appear in time", transient: true },
  E_ZVOL_UNSUPPORTED: { message: 'layout zvol needs a ZFS with zvols (OpenZFS in the kernel; zfs-fuse has none)' },
  E_DECOMPRESS: { message: 'stream could not be decompressed' },
  E_IMAGE_HASH: { message: 'exported image does not match the signed sha256' },
  E_IMAGE_SIZE: { message: 'exported image size differs from the signed size' },
  E_IMAGE_SOURCE: { message: 'the snapshot holds no readable image to export' },
  E_NO_SPACE: { message: 'not enough free space', transient: true },
  E_STATE_DB: { message: 'state database error' },
  E_LOCKED: { message: 'another upgradectl process is working on this device' },
  E_PERMISSION: { message: 'this verb needs root (or access to the state directory)' },
  E_STATE_TRANSITION: { message: 'illegal phase transition' },
  E_LOOP_BREAKER: { message: 'deployment resumed too many times' },
  E_NO_DEPLOYMENT: { message: 'no such deployment' },
  E_CHECKIN: { message: 'check-in failed' },
  E_DAEMON: { message: 'daemon control socket error' },
  E_PREFLIGHT: { message: 'pre-flight check before arming a trial failed' },
  E_HEALTH: { message: 'the trial image failed its health checks' },
  E_TRIAL_FAILED: { message: 'the trial boot did not come up (the device fell back)' },
  E_OPERATOR: { message: 'an operator rolled the trial back' },
  E_REBOOT: { message: 'the reboot could not be requested' },
  E_SWITCH_ACTIVE: { message: 'a switch is under way: cleanup waits until its trial is committed or rolled back' },
  E_MIGRATE_PATH: { message: 'a migrate allow/deny entry is not an absolute, normalized path' },
  E_MIGRATE_UNSAFE_PATH: { message: 'a migrated path would be resolved through a symlink or non-directory' },
  E_MIGRATE_NO_IMAGE: { message: 'the image to migrate into does not exist' },
  E_MIGRATE_IMAGE_BUSY: { message: 'the image is mounted somewhere the agent did not mount it' },
  E_MIGRATE_MOUNT: { message: 'the image could not be mounted or unmounted' },
  E_MIGRATE_COPY: { message: 'copying a path into the image failed' },
  E_MIGRATE_IMAGE_FULL: { message: 'the image has no room for the migrated files' },
  E_MIGRATE_FSCK: { message: 'the image is not clean after migration' },
  E_SUPERSEDED: { message: 'deployment replaced by a newer target before it armed anything' },
  E_GRUB_CFG_INVALID: { message: 'grub.cfg cannot be generated from these inputs' },
  E_GRUB_COMMITTED_MISSING: { message: 'the committed image is not among the boot entries' },
  E_GRUB_WRITE: { message: 'grub.cfg or grubenv could not be written' },
  E_BOOT_FLUSH: { message: "the filesystem of Grub's files could not be flushed for Grub (checkpoint or freeze ioctl failed); recorded, not fatal" },
  E_GRUBENV_GARBLED: { message: 'grubenv is not a valid 1024-byte GRUB environment block' },
  E_GRUBENV_TOO_LARGE: { message: 'variables do not fit in the 1024-byte grubenv' },
  E_GRUBENV_INVALID: { message: 'grubenv variable or trial version is not valid' },
  E_DELEGATION_SIGNATURE: { message: 'the diff delegation is not signed by enough distinct trusted keys' },
  E_DELEGATION_PAYLOAD: { message: 'the diff delegation payload is malformed' },
  E_DELEGATION_SCOPE: { message: 'the diff delegation does not cover this manifest, base, size or time' },
  E_DIFF_STATEMENT_SIGNATURE: { message: 'the diff statement is not signed by the delegated key' },
  E_DIFF_STATEMENT_PAYLOAD: { message: 'the diff statement or its document is malformed' },
  E_DIFF_STATEMENT_MISMATCH: { message: 'the diff statement names another version, base, manifest or compression' },
  E_DIFF_BUILD: { message: 'an on-demand diff build failed or timed out (the fleet server offers the full stream)' },
  E_BUNDLE_INVALID: { message: 'the file is not an update bundle (no tar archive, no bundle index first, or no manifest in it)' },
  E_BUNDLE_TRUNCATED: { message: 'the bundle ends before its last entry or its end marker (cut short)' },
  E_BUNDLE_STREAM_MISSING: { message: 'the bundle holds no stream this device can use (none from its base, no full stream)' },
  E_BUNDLE_STREAM_HASH: { message: 'stream bytes in the bundle do not match the signed sha256', deletePartial: true },
  E_BUNDLE_UNREADABLE: { message: 'the bundle file cannot be read (removed, unmounted, I/O error); retried', transient: true },
  E_BUILD_TREE: { message: 'the tree to build an image from is not a readable directory' },
  E_BUILD_NO_KERNEL: { message: 'the tree has no kernel or no initrd (/vmlinuz and /initrd.img must resolve to files in it)' },
  E_BUILD_NO_AGENT: { message: 'the tree does not have the upgrade agent installed (an image that cannot upgrade itself is a dead end)' },
  E_BUILD_BASE: { message: 'no previous image to build into (the dataset has no snapshot and no --size was given, or the snapshot holds no image)' },
  E_BUILD_VERSION: { message: 'the version to build is not above the dataset\'s newest snapshot' },
  E_BUILD_WORKDIR: { message: 'the build work directory is on ZFS or not usable (images are loop-mounted only outside ZFS)' },
  E_BUILD_SCRUB: { message: 'a scrub list entry is malformed or could not be applied' },
  E_BUILD_SYNC: { message: 'writing the tree into the image failed' },
  E_BUILD_IMAGE_FULL: { message: 'the image has no room for the tree' },
  E_BUILD_FSCK: { message: 'the built image is not clean (e2fsck -fn)' },
  E_SERVE_LISTEN: { message: 'the fleet server cannot listen on its address (in use, or not allowed)' },
  E_FLEET_AUTH: { message: 'the fleet server refused the admin token (or its admin API is off)' },
  E_FLEET_REFUSED: { message: 'the fleet server refused an operator request' },
  E_INTERNAL: { message: 'unexpected internal error' },
} as const satisfies Record<string, ErrorClass>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The class of `code`, as a plain ErrorClass (absent flags are undefined). */
export function errorClass(code: ErrorCode): ErrorClass {
  return ERROR_CODES[code];
}

const codesWhere = (has: (c: ErrorClass) => boolean): ReadonlySet<ErrorCode> =>
  new Set((Object.keys(ERROR_CODES) as ErrorCode[]).filter((code) => has(errorClass(code))));

/** Transient faults: the runner keeps the phase and retries with backoff. */
export const TRANSIENT_CODES = codesWhere((c) => c.transient === true);
/** Faults of one mirror: the download tries the next. */
export const MIRROR_FAILURE_CODES = codesWhere((c) => c.mirrorFailure === true);
/** Bytes that must never be trusted again: the partial file goes. */
export const DELETE_PARTIAL_CODES = codesWhere((c) => c.deletePartial === true);

export class UpgradeError extends Error {
  readonly code: ErrorCode;
  readonly context: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.context = opts.context ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, context: this.context };
  }
}

export class UsageError extends UpgradeError {}
export class ConfigError extends UpgradeError {}
export class TrustError extends UpgradeError {}
export class DownloadError extends UpgradeError {}
export class VerifyError extends UpgradeError {}
export class ZfsError extends UpgradeError {}
export class ExportError extends UpgradeError {}
export class SpaceError extends UpgradeError {}
export class StateError extends UpgradeError {}
export class CheckinError extends UpgradeError {}
export class BootError extends UpgradeError {}
export class MigrateError extends UpgradeError {}
export class BuildError extends UpgradeError {}

/** Come back later: not a failure, the server is still building the diff. */
export class RetryLaterError extends DownloadError {
  readonly retryAfterMs: number;
  constructor(retryAfterMs: number, url: string) {
    super('E_RETRY_LATER', `server is preparing ${url}; retry in ${Math.round(retryAfterMs / 1000)}s`, {
      context: { url, retryAfterMs },
    });
    this.retryAfterMs = retryAfterMs;
  }
}

/** Whether a Node error is EACCES or EPERM (the caller maps it to E_PERMISSION where it means "not root"). */
export function isPermissionDenied(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EACCES' || code === 'EPERM';
}

/** Wraps anything thrown into an UpgradeError, keeping the original as cause. */
export function asUpgradeError(err: unknown): UpgradeError {
  if (err instanceof UpgradeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new UpgradeError('E_INTERNAL', message, { cause: err });
}
