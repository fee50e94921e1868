// Strict JSON config: every path configurable, unknown keys are errors naming the key, defaults filled in.
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { parseCron } from './core/cron-expr.js';

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
  trust: { keys: { keyid: string; publicKey: string }[]; threshold: number; maxManifestBytes: number; allowDowngrade: boolean };
  download: {
    minBytesPerSec: number;
    slowWindowSec: number;
    deadlineSec: number;
    headersTimeoutSec: number;
    retryLaterMaxSec: number;
    chunkFsyncBytes: number;
  };
  space: { reserveBytes: number; keepImages: number };
  state: { maxResumes: number; maxFailures: number };
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
    rebooter: 'systemd' | 'sandbox';
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
  logLevel: string;
}

export const DEFAULT_CONFIG_PATH = '/etc/upgrade-agent/config.json';

type Spec =
  | { t: 'string'; def?: string; nullable?: boolean; oneOf?: readonly string[] }
  | { t: 'int'; def?: number; min?: number; max?: number }
  | { t: 'bool'; def?: boolean }
  | { t: 'keys' }
  | { t: 'strings' }
  | { t: 'num'; def: number; min: number; max: number }
  | { t: 'object'; fields: Record<string, Spec> };

const str = (def?: string, more: { nullable?: boolean; oneOf?: readonly string[] } = {}): Spec => ({ t: 'string', ...(def === undefined ? {} : { def }), ...more });
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER): Spec => ({ t: 'int', def, min, max });
const obj = (fields: Record<string, Spec>): Spec => ({ t: 'object', fields });

const SCHEMA = obj({
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
  }),
  download: obj({
    minBytesPerSec: int(1024, 0),
    slowWindowSec: int(60, 1),
    deadlineSec: int(6 * 3600, 1),
    headersTimeoutSec: int(60, 1),
    retryLaterMaxSec: int(3600, 1),
    chunkFsyncBytes: int(8 << 20, 1 << 16),
  }),
  space: obj({ reserveBytes: int(64 << 20, 0), keepImages: int(2, 1, 100) }),
  state: obj({ maxResumes: int(8, 1, 1000), maxFailures: int(20, 1, 10000) }),
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
    rebooter: str('systemd', { oneOf: ['systemd', 'sandbox'] }),
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
  logLevel: str('info', { oneOf: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] }),
});

function fail(path: string, message: string, code: 'E_CONFIG_INVALID' | 'E_CONFIG_UNKNOWN_KEY' = 'E_CONFIG_INVALID'): never {
  throw new ConfigError(code, `config ${path}: ${message}`, { context: { key: path } });
}

function check(spec: Spec, value: unknown, path: string): unknown {
  switch (spec.t) {
    case 'string':
      if (value === undefined) {
        if (spec.def !== undefined) return spec.def;
        if (spec.nullable) return null;
        fail(path, 'is required');
      }
      if (value === null && spec.nullable) return null;
      if (typeof value !== 'string' || value === '') fail(path, 'must be a non-empty string');
      if (spec.oneOf && !spec.oneOf.includes(value)) fail(path, `must be one of ${spec.oneOf.join(', ')}`);
      return value;
    case 'int':
      if (value === undefined) return spec.def;
      if (typeof value !== 'number' || !Number.isInteger(value)) fail(path, 'must be an integer');
      if (value < (spec.min ?? 0) || value > (spec.max ?? Number.MAX_SAFE_INTEGER)) fail(path, `must be within ${spec.min}..${spec.max}`);
      return value;
    case 'bool':
      if (value === undefined) return spec.def;
      if (typeof value !== 'boolean') fail(path, 'must be true or false');
      return value;
    case 'num':
      if (value === undefined) return spec.def;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < spec.min || value > spec.max) fail(path, `must be a number within ${spec.min}..${spec.max}`);
      return value;
    case 'strings':
      if (value === undefined) return [];
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) fail(path, 'must be a list of non-empty strings');
      return value;
    case 'keys':
      if (value === undefined) return [];
      if (!Array.isArray(value)) fail(path, 'must be a list of {keyid, publicKey}');
      return value.map((k, i) => {
        const p = `${path}[${i}]`;
        if (typeof k !== 'object' || k === null || Array.isArray(k)) fail(p, 'must be an object');
        for (const key of Object.keys(k)) if (key !== 'keyid' && key !== 'publicKey') fail(`${p}.${key}`, 'unknown key', 'E_CONFIG_UNKNOWN_KEY');
        const { keyid, publicKey } = k as Record<string, unknown>;
        if (typeof keyid !== 'string' || typeof publicKey !== 'string') fail(p, 'needs string keyid and publicKey');
        return { keyid, publicKey };
      });
    case 'object': {
      const input = value === undefined ? {} : value;
      if (typeof input !== 'object' || input === null || Array.isArray(input)) fail(path || '(root)', 'must be an object');
      for (const key of Object.keys(input)) {
        if (!(key in spec.fields)) fail(path ? `${path}.${key}` : key, 'unknown key', 'E_CONFIG_UNKNOWN_KEY');
      }
      const out: Record<string, unknown> = {};
      for (const [key, sub] of Object.entries(spec.fields)) {
        out[key] = check(sub, (input as Record<string, unknown>)[key], path ? `${path}.${key}` : key);
      }
      return out;
    }
  }
}

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
  parseCron(cfg.window.cron);
  return cfg;
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
