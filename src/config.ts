// Strict JSON config: every path configurable, unknown keys are errors naming the key, defaults filled in.
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { parseCron } from './util/cron-expr.js';
import { check, fail, int, obj, str } from './util/strict-schema.js';
import { JOURNAL_RETENTION_DEFAULTS as JOURNAL } from './state/journal.js';

/** Upper end of `trust.maxClockAheadSec` (366 days): the schema and the clock floor (src/trust/clock-floor.ts) share it. */
export const MAX_CLOCK_AHEAD_SEC = 366 * 24 * 3600;

export interface Config {
  deviceId: string;
  hardware: string;
  channel: string;
  paths: {
    hostRoot: string;
    imagesDir: string;
    stateDir: string;
    downloadsDir: string;
    grubDir: string;
    socket: string;
  };
  zfs: { pool: string; dataset: string; layout: 'file' | 'zvol'; imageFile: string; busyTimeoutSec: number };
  fleet: {
    url: string | null;
    caFile: string | null;
    checkinIntervalSec: number;
    jitterSec: number;
    backoffMaxSec: number;
  };
  trust: {
    keys: { keyid: string; publicKey: string }[];
    threshold: number;
    maxManifestBytes: number;
    allowDowngrade: boolean;
    maxClockAheadSec: number;
  };
  download: {
    minBytesPerSec: number;
    slowWindowSec: number;
    deadlineSec: number;
    headersTimeoutSec: number;
    retryLaterMaxSec: number;
    chunkFsyncBytes: number;
    maxBytesPerSec: number;
  };
  http: { connectTimeoutSec: number; requestDeadlineSec: number; minBytesPerSec: number; slowWindowSec: number; maxRedirects: number };
  retry: { minDelaySec: number; maxDelaySec: number; jitterPct: number; maxDeferrals: number };
  space: { reserveBytes: number; keepImages: number };
  state: { maxResumes: number; maxFailures: number; journalMaxRows: number; journalMaxAgeDays: number };
  boot: {
    cmdlineFile: string;
    imageParam: string;
    bootIdFile: string;
    kernelRoot: string;
    grubRootUuid: string | null;
    grubRootDevice: string;
    imagesPath: string;
    panicSec: number;
    extraArgs: string | null;
    /** Only `systemd`; kept so that configs naming it stay valid (the sandbox has its own entry point). */
    rebooter: 'systemd';
  };
  health: { systemd: boolean; units: string[]; required: string[]; wanted: string[]; deadlineSec: number; commandTimeoutSec: number };
  migrate: { sourceRoot: string; allow: string[]; deny: string[]; runtimeDir: string };
  window: {
    cron: string;
    durationMin: number;
    timezone: 'UTC' | 'local';
    maxPostponements: number;
    retryMin: number;
    maxDelayHours: number;
    idle: { maxLoad: number; busyCommands: string[]; probeTimeoutSec: number; systemdInhibitors: boolean };
  };
  metrics: { textfile: string | null };
  logLevel: string;
}

export const DEFAULT_CONFIG_PATH = '/etc/upgrade-agent/config.json';

/** The schema (exported for the docs test: each row of docs/configuration.md states its key's range). */
export const SCHEMA = obj({
  deviceId: str(),
  hardware: str(),
  channel: str('stable'),
  paths: obj({
    hostRoot: str('/host'),
    imagesDir: str(''),
    stateDir: str(''),
    downloadsDir: str(''),
    grubDir: str(''),
    socket: str('/run/upgrade-agent.sock'),
  }),
  zfs: obj({
    pool: str(),
    dataset: str('images'),
    layout: str('file', { oneOf: ['file', 'zvol'] }),
    imageFile: str('root.img'),
    busyTimeoutSec: int(30, 0, 3600),
  }),
  fleet: obj({
    url: { t: 'string', nullable: true },
    caFile: { t: 'string', nullable: true },
    checkinIntervalSec: int(3600, 1),
    jitterSec: int(300, 0),
    backoffMaxSec: int(6 * 3600, 1),
  }),
  trust: obj({
    keys: { t: 'keys' },
    threshold: int(1, 1, 16),
    maxManifestBytes: int(1 << 20, 1024, 64 << 20),
    allowDowngrade: { t: 'bool', def: false },
    maxClockAheadSec: int(24 * 3600, 0, MAX_CLOCK_AHEAD_SEC),
  }),
  download: obj({
    minBytesPerSec: int(1024, 0),
    slowWindowSec: int(60, 1),
    deadlineSec: int(6 * 3600, 1),
    headersTimeoutSec: int(60, 1),
    retryLaterMaxSec: int(3600, 1),
    chunkFsyncBytes: int(8 << 20, 1 << 16),
    maxBytesPerSec: int(0, 0),
  }),
  http: obj({
    connectTimeoutSec: int(30, 1, 600),
    requestDeadlineSec: int(120, 1, 3600),
    minBytesPerSec: int(256, 0),
    slowWindowSec: int(30, 1, 3600),
    maxRedirects: int(3, 0, 10),
  }),
  retry: obj({
    minDelaySec: int(30, 1, 86400),
    maxDelaySec: int(6 * 3600, 1, 7 * 86400),
    jitterPct: int(20, 0, 100),
    maxDeferrals: int(120, 1, 100000),
  }),
  space: obj({ reserveBytes: int(64 << 20, 0), keepImages: int(2, 1, 100) }),
  state: obj({
    maxResumes: int(8, 1, 1000),
    maxFailures: int(20, 1, 10000),
    journalMaxRows: int(JOURNAL.journalMaxRows, 100, 10_000_000),
    journalMaxAgeDays: int(JOURNAL.journalMaxAgeDays, 1, 36500),
  }),
  boot: obj({
    cmdlineFile: str('/proc/cmdline'),
    imageParam: str('ua.image'),
    bootIdFile: str('/proc/sys/kernel/random/boot_id'),
    kernelRoot: str('/dev/sda1'),
    grubRootUuid: { t: 'string', nullable: true },
    grubRootDevice: str('(hd0,msdos1)'),
    imagesPath: str('/images'),
    panicSec: int(10, 1, 3600),
    extraArgs: { t: 'string', nullable: true },
    rebooter: str('systemd', { oneOf: ['systemd'] }),
  }),
  health: obj({
    systemd: { t: 'bool', def: true },
    units: { t: 'strings' },
    required: { t: 'strings' },
    wanted: { t: 'strings' },
    deadlineSec: int(300, 1, 86400),
    commandTimeoutSec: int(60, 1, 3600),
  }),
  migrate: obj({ sourceRoot: str('/'), allow: { t: 'strings' }, deny: { t: 'strings' }, runtimeDir: str('/run/upgrade-agent/migrate') }),
  window: obj({
    cron: str('0 3 * * *'),
    durationMin: int(120, 1, 7 * 24 * 60),
    timezone: str('UTC', { oneOf: ['UTC', 'local'] }),
    maxPostponements: int(6, 0, 1000),
    retryMin: int(5, 1, 24 * 60),
    maxDelayHours: int(72, 0, 24 * 365),
    idle: obj({
      maxLoad: { t: 'num', def: 4, min: 0, max: 1000 },
      busyCommands: { t: 'strings' },
      probeTimeoutSec: int(10, 1, 600),
      systemdInhibitors: { t: 'bool', def: true },
    }),
  }),
  metrics: obj({ textfile: { t: 'string', nullable: true } }),
  logLevel: str('info', { oneOf: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] }),
});

/** Validates a parsed config object; derived paths default under hostRoot. Pure. */
export function parseConfig(raw: unknown): Config {
  const cfg = check(SCHEMA, raw, '') as Config;
  const host = cfg.paths.hostRoot.replace(/\/+$/, '');
  if (!cfg.paths.imagesDir) cfg.paths.imagesDir = `${host}/images`;
  if (!cfg.paths.stateDir) cfg.paths.stateDir = `${host}/var/lib/upgrade-agent`;
  if (!cfg.paths.downloadsDir) cfg.paths.downloadsDir = `${cfg.paths.stateDir.replace(/\/+$/, '')}/downloads`;
  if (!cfg.paths.grubDir) cfg.paths.grubDir = `${host}/boot/grub`;
  if (cfg.trust.keys.length < cfg.trust.threshold && cfg.trust.keys.length > 0) {
    fail('trust.threshold', `needs ${cfg.trust.threshold} keys but only ${cfg.trust.keys.length} are configured`);
  }
  const { maxBytesPerSec: cap, minBytesPerSec: floor } = cfg.download;
  // A cap near the drip guard's floor would make the guard drop every mirror of a healthy network.
  if (cap > 0 && cap < 2 * floor) fail('download.maxBytesPerSec', `must be 0 (no cap) or at least twice download.minBytesPerSec (${2 * floor})`);
  if (cfg.retry.minDelaySec > cfg.retry.maxDelaySec) fail('retry.minDelaySec', `must not exceed retry.maxDelaySec (${cfg.retry.maxDelaySec})`);
  parseCron(cfg.window.cron);
  return cfg;
}

/** The bounds of one manifest or check-in exchange (adapters/http.ts SmallFetchLimits), from the `http` section. */
export function smallFetchLimits(cfg: Config): { deadlineMs: number; minBytesPerSec: number; slowWindowMs: number; maxRedirects: number } {
  const h = cfg.http;
  return { deadlineMs: h.requestDeadlineSec * 1000, minBytesPerSec: h.minBytesPerSec, slowWindowMs: h.slowWindowSec * 1000, maxRedirects: h.maxRedirects };
}

/** Reads and validates a config file; the path comes from --config, $UPGRADE_AGENT_CONFIG or the default. */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('E_CONFIG_READ', `cannot read config ${path}`, { cause: err, context: { path } });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('E_CONFIG_PARSE', `config ${path} is not valid JSON: ${(err as Error).message}`, { cause: err, context: { path } });
  }
  return parseConfig(raw);
}

export function configPathFrom(argvPath: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return argvPath ?? env['UPGRADE_AGENT_CONFIG'] ?? DEFAULT_CONFIG_PATH;
}
