// The one wiring point: the real adapters (zfs CLI, undici, SQLite, Grub's files, loop mounts, e2fsck, probes) built from the config.
import type { Config } from './config.js';
import { loadConfig, configPathFrom } from './config.js';
import type { Device } from './core/device.js';
import type { SwitchCrashPoint } from './core/switch-policy.js';
import { renderGrubCfg } from './core/switch-grub.js';
import { openStateDb } from './state/db.js';
import { Store } from './state/store.js';
import { acquireRunnerLock, waitForRunnerLock } from './state/runner-lock.js';
import { createLogger, type Logger } from './log.js';
import { ZfsCli } from './adapters/zfs.js';
import { createDispatcher } from './adapters/http.js';
import { KernelBootInfo, SystemdRebooter, type Rebooter } from './adapters/boot.js';
import { IoctlBootFlusher, type BootFilesFlusher } from './adapters/boot-flush.js';
import { LoopMounter } from './adapters/image-mount.js';
import { E2fsck } from './adapters/fsck.js';
import { FileGrubPort } from './adapters/grub-port.js';
import { idleProbesFrom, runIdleProbes } from './adapters/idle-probes.js';
import { XzCli } from './adapters/decompress.js';
import { zfsVia } from './adapters/host-namespace.js';
import { LoopImageStager } from './steps/image-stager.js';
import { runHealthChecks } from './steps/health.js';
import { readMounts } from './util/proc-mounts.js';
import { statfsSpace } from './adapters/space.js';
import { attachMetricsTextfile } from './metrics/textfile.js';
import type { ProgressDisplay } from './util/progress.js';
import type { StateError } from './errors.js';

/** What a caller may choose; everything else comes from the config. */
export interface WiringOptions {
  log?: Logger;
  /** The soak test's simulated clock and repeatable jitter; production uses the real ones. */
  now?: () => number;
  random?: () => number;
  /**
   * How to reboot: systemd on a device. Only the sandbox's entry point (src/sandbox/upgradectl.ts) passes another,
   * its simulated power cycle; `powerOff` is what ends this process there, as a real reboot would.
   */
  rebooter?: (o: { config: Config; log: Logger; powerOff: () => never }) => Rebooter;
}

export interface WiredDevice {
  device: Device;
  /** Closes the state database and the HTTP connections. */
  close(): void;
}

export function readConfig(path: string | undefined): Config {
  return loadConfig(configPathFrom(path));
}

/** Builds every adapter once. `powerOff` ends the process after a simulated reboot (the sandbox rebooter's). */
export function wireDevice(config: Config, opts: WiringOptions = {}, powerOff: () => never = () => process.exit(0)): WiredDevice {
  const log = opts.log ?? createLogger({ level: config.logLevel });
  const db = openStateDb(config.paths.stateDir);
  const now = opts.now ?? ((): number => Date.now());
  const store = new Store(db, now, { journalMaxRows: config.state.journalMaxRows, journalMaxAgeDays: config.state.journalMaxAgeDays });
  const dispatcher = createDispatcher({
    caFile: config.fleet.caFile,
    headersTimeoutMs: config.download.headersTimeoutSec * 1000,
    bodyTimeoutMs: config.download.slowWindowSec * 1000,
    connectTimeoutMs: config.http.connectTimeoutSec * 1000,
  });
  const b = config.boot;
  const probes = idleProbesFrom(config.window.idle);
  const boot = new KernelBootInfo(b.cmdlineFile, b.imageParam, b.bootIdFile);
  attachMetricsTextfile(store, config, log, boot);
  const device: Device = {
    config, store, log, now, dispatcher,
    random: opts.random ?? Math.random,
    zfs: new ZfsCli({ busyTimeoutSec: config.zfs.busyTimeoutSec, log, via: zfsVia(process.env, process.pid) }),
    decompressor: new XzCli(),
    boot,
    space: statfsSpace,
    rebooter: opts.rebooter ? opts.rebooter({ config, log, powerOff }) : new SystemdRebooter(),
    grub: new FileGrubPort({
      grubDir: config.paths.grubDir, render: (v) => renderGrubCfg({ config }, v), flusher: bootFilesFlusher(), log,
      mounts: () => readMounts(),
      // Each write's flush is journaled on the active deployment (the one writing Grub's files).
      journal: (event, data) => store.journal(event, store.active()?.id ?? null, data),
    }),
    stager: new LoopImageStager({ mounter: new LoopMounter({ runtimeDir: config.migrate.runtimeDir }), fsck: new E2fsck(), migrate: config.migrate, log }),
    health: { check: () => runHealthChecks(config.health) },
    idle: { check: () => runIdleProbes(probes) },
    ...crashHook(log),
  };
  return {
    device,
    close: () => {
      db.close();
      void dispatcher.close();
    },
  };
}

/**
 * Test hook for the crash tests: at one named step boundary of the switch (`UPGRADE_AGENT_CRASH_AT`), SIGKILL this
 * process; with `UPGRADE_AGENT_CRASH_HOW=stop`, say so on the log and SIGSTOP instead, so that the real-boot suite
 * can cut the power at exactly that point (nothing more is written while it looks).
 */
function crashHook(log: Logger): Pick<Device, 'crashPoint'> {
  const crashAt = process.env['UPGRADE_AGENT_CRASH_AT'];
  if (!crashAt) return {};
  const stop = process.env['UPGRADE_AGENT_CRASH_HOW'] === 'stop';
  return {
    crashPoint: (name: SwitchCrashPoint): void => {
      if (name !== crashAt) return;
      if (!stop) process.kill(process.pid, 'SIGKILL');
      log.error({ crashPoint: name }, 'crash point reached: process stopped');
      process.kill(process.pid, 'SIGSTOP');
    },
  };
}

/** How a CLI verb holds the device: the runner lock taken, waited for (the answer of another runner may do), or not needed. */
export interface DeviceUse<T> {
  lock: 'take' | 'none' | { timeoutMs: number; whileWaiting?: () => Promise<T | null>; onWait?: (err: StateError) => void };
  /** Thaw the filesystem of Grub's files first (the daemon and the boot-time confirm: a killed flush may have left it frozen). */
  thaw?: boolean;
  /** The CLI's TTY line (null when stderr is not a terminal): it follows the store and gets the download's bytes. */
  progress?: ProgressDisplay | null;
}

/**
 * Every CLI verb that touches the device runs through here: thaw, lock, wire, run, close, release — in that order,
 * whatever happens. A simulated reboot (the sandbox) ends the process the way a real shutdown would: closed, released.
 */
export async function withDevice<T>(config: Config, use: DeviceUse<T>, fn: (device: Device) => Promise<T>, opts: WiringOptions = {}): Promise<T> {
  if (use.thaw) await thawGrubFilesystem(config);
  let release = (): void => undefined;
  if (use.lock === 'take') release = acquireRunnerLock(config.paths.stateDir);
  else if (use.lock !== 'none') {
    const got = await waitForRunnerLock<T>(config.paths.stateDir, use.lock);
    if ('other' in got) return got.other;
    release = got.release;
  }
  const progress = use.progress ?? null;
  let wired: WiredDevice | null = null;
  let unfollow = (): void => undefined;
  const done = (): void => {
    unfollow();
    progress?.end();
    wired?.close();
    release();
  };
  try {
    wired = wireDevice(config, opts, () => {
      done();
      process.exit(0);
    });
    if (progress) unfollow = progress.follow(wired.device.store);
    return await fn(progress ? { ...wired.device, progress } : wired.device);
  } finally {
    done();
  }
}

export function bootFilesFlusher(): BootFilesFlusher {
  return new IoctlBootFlusher();
}

/**
 * First thing the daemon and the boot-time confirm do, before they take the lock or open the store: a flush cut short
 * by a killed service could have left the filesystem of Grub's files (and of the running image file) frozen.
 */
export async function thawGrubFilesystem(config: Config): Promise<void> {
  await bootFilesFlusher().thawIfFrozen(config.paths.grubDir).catch(() => undefined);
}
