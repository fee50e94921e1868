// One base error with a stable code; families as subclasses; context chained through `cause`.

/** Every code the agent can report. Stable: operators and fleet servers match on these. */
export const ERROR_CODES = {
  E_USAGE: 'bad command line',
  E_CONFIG_READ: 'config file cannot be read',
  E_CONFIG_PARSE: 'config file is not valid JSON',
  E_CONFIG_UNKNOWN_KEY: 'config has a key the agent does not know',
  E_CONFIG_INVALID: 'config value has the wrong type or range',
  E_KEY_INVALID: 'a key file is malformed',
  E_MANIFEST_FORMAT: 'manifest envelope is malformed',
  E_MANIFEST_UNSIGNED: 'manifest has no signatures',
  E_MANIFEST_SIGNATURE: 'not enough distinct trusted keys signed the manifest',
  E_MANIFEST_PAYLOAD: 'signed payload is malformed',
  E_MANIFEST_EXPIRED: 'manifest is past its expiry',
  E_MANIFEST_ROLLBACK: 'manifest version is below the accepted floor',
  E_MANIFEST_HARDWARE: 'manifest is for other hardware',
  E_MANIFEST_CHANNEL: 'manifest is for another channel',
  E_MANIFEST_TOO_LARGE: 'manifest document exceeds the size cap',
  E_MANIFEST_NO_STREAM: 'manifest offers no stream this device can use',
  E_HTTP_STATUS: 'server answered with an unexpected HTTP status',
  E_HTTP_NETWORK: 'network error talking to a server',
  E_HTTP_TIMEOUT: 'server did not answer in time',
  E_HTTP_DEADLINE: 'a manifest or check-in exchange exceeded its overall deadline',
  E_HTTP_SLOW: 'a manifest or check-in answer arrived slower than the minimum throughput',
  E_HTTP_REDIRECT: 'a redirect was refused (another scheme, a POST turned into a GET, or too many hops)',
  E_DOWNLOAD_TOO_LARGE: 'server sent more bytes than were signed',
  E_DOWNLOAD_SLOW: 'download throughput stayed under the minimum',
  E_DOWNLOAD_DEADLINE: 'download exceeded its overall deadline',
  E_DOWNLOAD_HASH: 'downloaded stream does not match the signed sha256',
  E_DOWNLOAD_TRUNCATED: 'download ended before the signed size',
  E_MIRRORS_EXHAUSTED: 'every mirror failed',
  E_RETRY_LATER: 'server asked to come back later',
  E_RETRY_LATER_EXHAUSTED: 'server asked to come back later too many times in a row; counted as a failure',
  E_VERIFY_HASH: 'stream does not match the signed sha256 at import time',
  E_VERIFY_SIZE: 'stream size differs from the signed size at import time',
  E_ZFS_COMMAND: 'a zfs command failed',
  E_ZFS_BUSY: 'dataset stayed busy',
  E_ZFS_BASE_MISMATCH: "pool's newest snapshot is not the diff's base",
  E_ZFS_RECV: 'zfs recv rejected the stream',
  E_DECOMPRESS: 'stream could not be decompressed',
  E_IMAGE_HASH: 'exported image does not match the signed sha256',
  E_IMAGE_SIZE: 'exported image size differs from the signed size',
  E_IMAGE_SOURCE: 'the snapshot holds no readable image to export',
  E_NO_SPACE: 'not enough free space',
  E_STATE_DB: 'state database error',
  E_LOCKED: 'another upgradectl process is working on this device',
  E_PERMISSION: 'this verb needs root (or access to the state directory)',
  E_STATE_TRANSITION: 'illegal phase transition',
  E_LOOP_BREAKER: 'deployment resumed too many times',
  E_NO_DEPLOYMENT: 'no such deployment',
  E_CHECKIN: 'check-in failed',
  E_DAEMON: 'daemon control socket error',
  E_PREFLIGHT: 'pre-flight check before arming a trial failed',
  E_HEALTH: 'the trial image failed its health checks',
  E_TRIAL_FAILED: 'the trial boot did not come up (the device fell back)',
  E_OPERATOR: 'an operator rolled the trial back',
  E_REBOOT: 'the reboot could not be requested',
  E_SWITCH_ACTIVE: 'a switch is under way: cleanup waits until its trial is committed or rolled back',
  E_MIGRATE_PATH: 'a migrate allow/deny entry is not an absolute, normalized path',
  E_MIGRATE_UNSAFE_PATH: 'a migrated path would be resolved through a symlink or non-directory',
  E_MIGRATE_NO_IMAGE: 'the image to migrate into does not exist',
  E_MIGRATE_IMAGE_BUSY: 'the image is mounted somewhere the agent did not mount it',
  E_MIGRATE_MOUNT: 'the image could not be mounted or unmounted',
  E_MIGRATE_COPY: 'copying a path into the image failed',
  E_MIGRATE_IMAGE_FULL: 'the image has no room for the migrated files',
  E_MIGRATE_FSCK: 'the image is not clean after migration',
  E_SUPERSEDED: 'deployment replaced by a newer target before it armed anything',
  E_GRUB_CFG_INVALID: 'grub.cfg cannot be generated from these inputs',
  E_GRUB_COMMITTED_MISSING: 'the committed image is not among the boot entries',
  E_GRUB_WRITE: 'grub.cfg or grubenv could not be written',
  E_BOOT_FLUSH: "the filesystem of Grub's files could not be flushed for Grub (checkpoint or freeze ioctl failed); recorded, not fatal",
  E_GRUBENV_GARBLED: 'grubenv is not a valid 1024-byte GRUB environment block',
  E_GRUBENV_TOO_LARGE: 'variables do not fit in the 1024-byte grubenv',
  E_GRUBENV_INVALID: 'grubenv variable or trial version is not valid',
  E_INTERNAL: 'unexpected internal error',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

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
