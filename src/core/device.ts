// The one dependency type: every effect the agent's core and steps use, built only in src/wiring.ts.
import type { Dispatcher } from '../adapters/http-dispatcher.js';
import type { Config } from '../config.js';
import type { Store } from '../state/store.js';
import type { Zfs } from '../adapters/zfs.js';
import type { Decompressor } from '../adapters/decompress.js';
import type { Logger } from '../log.js';
import type { BootInfo, Rebooter } from '../adapters/boot.js';
import type { IdleVerdict } from '../adapters/idle-probes.js';
import type { DiskSpace } from '../adapters/space.js';
import type { GrubPort } from '../boot/grub-port.js';
import type { ImageStager } from '../steps/image-stager.js';
import type { HealthReport } from '../steps/health.js';
import type { SwitchCrashPoint } from './switch-policy.js';
import type { ProgressSink } from '../util/progress.js';

/**
 * Everything a deployment's walk touches, from the check-in to the commit. Tests build it from fakes
 * (test/support/switch-fakes.ts) or from the real wiring; nothing in core/ builds an adapter itself.
 */
export interface Device {
  config: Config;
  store: Store;
  zfs: Zfs;
  /** What an xz stream goes through on its way to zfs recv. */
  decompressor: Decompressor;
  /** HTTPS for check-ins, manifests and streams (the pinned CA, our own redirect policy). */
  dispatcher: Dispatcher;
  log: Logger;
  now: () => number;
  /** In [0, 1): the jitter of retry delays (injected so the policy's tests and the soak are repeatable). */
  random: () => number;
  /** What booted and this boot's id. */
  boot: BootInfo;
  /** Free space of the downloads, images and state filesystems. */
  space: DiskSpace;
  rebooter: Rebooter;
  /** The image side of staging: repair after a cut, pre-flight inside the image, the migration. */
  stager: ImageStager;
  /** The trial's health checks (config.health on a device). */
  health: { check(): Promise<HealthReport> };
  /** Grub's files: every write atomic, flushed for Grub and journaled inside the port. */
  grub: GrubPort;
  /** Is the appliance busy now (config.window.idle's probes)? Asked by the window gate only. */
  idle: { check(): Promise<IdleVerdict> };
  /** Named step boundaries (SWITCH_STEPS); the crash tests end the process at each one (a no-op otherwise). */
  crashPoint?: (name: SwitchCrashPoint) => void;
  /** Where the download reports its bytes (the CLI's TTY line); none in the daemon. */
  progress?: ProgressSink;
}
