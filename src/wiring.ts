// The one wiring point: real adapters (zfs CLI, undici, SQLite, clock, logger) assembled from the config.
import { readFileSync } from 'node:fs';
import type { Config } from './config.js';
import { loadConfig, configPathFrom } from './config.js';
import { openStateDb } from './state/db.js';
import { Store } from './state/store.js';
import { createLogger, type Logger } from './log.js';
import { ZfsCli } from './adapters/zfs.js';
import { createDispatcher } from './adapters/http.js';
import type { RunnerDeps } from './core/runner.js';
import type { SwitchDeps } from './core/switch.js';
import type { SwitchCrashPoint } from './core/switch-policy.js';
import { KernelBootInfo, SystemdRebooter } from './adapters/boot.js';
import { SandboxRebooter } from './sandbox/rebooter.js';
import { IoctlBootFlusher, type BootFilesFlusher } from './adapters/boot-flush.js';
import { LoopMounter } from './adapters/image-mount.js';
import { FileGrubPort } from './adapters/grub-port.js';
import { LoopImageStager } from './adapters/image-stager.js';
import { runHealthChecks } from './steps/health.js';
import { renderGrubCfg } from './core/switch-grub.js';
import { attachMetricsTextfile } from './metrics/textfile.js';

export interface Agent extends RunnerDeps {
  close(): void;
}

export function readConfig(path: string | undefined): Config {
  return loadConfig(configPathFrom(path));
}

/** `now` and `random` are injectable for the soak test's simulated clock; production uses the real ones. */
export function wireAgent(config: Config, opts: { log?: Logger; now?: () => number; random?: () => number } = {}): Agent {
  const log = opts.log ?? createLogger({ level: config.logLevel });
  const db = openStateDb(config.paths.stateDir);
  const now = opts.now ?? ((): number => Date.now());
  const dispatcher = createDispatcher({
    caFile: config.fleet.caFile,
    headersTimeoutMs: config.download.headersTimeoutSec * 1000,
    bodyTimeoutMs: config.download.slowWindowSec * 1000,
    connectTimeoutMs: config.http.connectTimeoutSec * 1000,
  });
  const zfs = new ZfsCli({ busyTimeoutSec: config.zfs.busyTimeoutSec, log });
  const store = new Store(db, now, { journalMaxRows: config.state.journalMaxRows, journalMaxAgeDays: config.state.journalMaxAgeDays });
  attachMetricsTextfile(store, config, log);
  return {
    config,
    store,
    zfs,
    dispatcher,
    log,
    now,
    random: opts.random ?? Math.random,
    close: () => {
      db.close();
      void dispatcher.close();
    },
  };
}

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

/** The switch's extra adapters: what booted, how to reboot (systemd, or the sandbox's simulation), Grub's files, the image, health. */
export function wireSwitch(agent: Agent, opts: { powerOff?: () => never } = {}): SwitchDeps {
  const b = agent.config.boot;
  const boot = new KernelBootInfo(b.cmdlineFile, b.imageParam, b.bootIdFile);
  const rebooter =
    b.rebooter === 'sandbox'
      ? new SandboxRebooter({
          grubDir: agent.config.paths.grubDir, imagesDir: agent.config.paths.imagesDir, cmdlineFile: b.cmdlineFile,
          bootIdFile: b.bootIdFile, kernelRoot: b.kernelRoot, imageParam: b.imageParam, imagesPath: b.imagesPath,
          panicSec: b.panicSec, log: agent.log, ...(opts.powerOff ? { powerOff: opts.powerOff } : {}),
        })
      : new SystemdRebooter();
  // Test hook for the crash tests: SIGKILL this process at one named step boundary of the switch.
  const crashAt = process.env['UPGRADE_AGENT_CRASH_AT'];
  const crashPoint = crashAt
    ? (name: SwitchCrashPoint): void => {
        if (name === crashAt) process.kill(process.pid, 'SIGKILL');
      }
    : undefined;
  return {
    ...agent, boot, rebooter, grub: grubPort(agent),
    stager: new LoopImageStager({ mounter: new LoopMounter({ runtimeDir: agent.config.migrate.runtimeDir }), migrate: agent.config.migrate, log: agent.log }),
    health: { check: () => runHealthChecks(agent.config.health) },
    ...(crashPoint ? { crashPoint } : {}),
  };
}

/** Grub's files in paths.grubDir; each write's flush is journaled on the active deployment (the one writing them). */
export function grubPort(agent: Agent): FileGrubPort {
  const { store } = agent;
  return new FileGrubPort({
    grubDir: agent.config.paths.grubDir, render: (v) => renderGrubCfg(agent, v), flusher: bootFilesFlusher(), log: agent.log,
    journal: (event, data) => store.journal(event, store.active()?.id ?? null, data),
  });
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
