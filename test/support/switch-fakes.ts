// In-process fakes of the switch's ports for the crash × outcome matrix: a device in a temp dir, a real SQLite store.
import { XzCli } from '../../src/adapters/decompress.js';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dispatcher } from '../../src/adapters/http-dispatcher.js';
import { parseConfig, type Config } from '../../src/config.js';
import { openStateDb } from '../../src/state/db.js';
import { Store } from '../../src/state/store.js';
import type { Zfs, Snapshot } from '../../src/adapters/zfs.js';
import type { Rebooter } from '../../src/adapters/boot.js';
import { KernelBootInfo } from '../../src/adapters/boot.js';
import type { ImageStager } from '../../src/steps/image-stager.js';
import type { HealthReport } from '../../src/steps/health.js';
import { MemoryGrubPort } from '../../src/boot/grub-port-memory.js';
import { renderGrubCfg } from '../../src/core/switch-grub.js';
import { ProcessEnd } from '../../src/core/switch-policy.js';
import type { Device } from '../../src/core/device.js';
import type { SwitchCrashPoint } from '../../src/core/switch-policy.js';
import { listImages } from '../../src/util/images-dir.js';
import { silentLogger } from '../../src/log.js';

/** Thrown where the process would end: a kill at a crash point, a reboot, a machine that hangs in its health checks. */
export class Halt extends ProcessEnd {
  constructor(readonly why: 'crash' | 'reboot' | 'hang') {
    super(`halt: ${why}`);
  }
}

export type HealthMode = 'passes' | 'fails' | 'never';

/** Records snapshots by version; the switch only lists and destroys them (retention after a commit). */
export class FakeZfs implements Zfs {
  constructor(readonly versions: Set<number>) {}
  async snapshots(dataset: string): Promise<Snapshot[]> {
    return [...this.versions].sort((a, b) => a - b).map((v) => ({ name: `${dataset}@${v}`, version: v, guid: String(v) }) as Snapshot);
  }
  async destroy(name: string): Promise<void> {
    this.versions.delete(Number(name.split('@')[1]));
  }
  private no(): never {
    throw new Error('FakeZfs: not used by the switch');
  }
  capabilities = async (): Promise<never> => this.no();
  view = async (): Promise<never> => this.no();
  exists = async (): Promise<boolean> => this.no();
  children = async (): Promise<string[]> => this.no();
  recv = async (): Promise<void> => this.no();
  send = (): never => this.no();
  rollback = async (): Promise<void> => this.no();
  rename = async (): Promise<void> => this.no();
  setProps = async (): Promise<void> => this.no();
  getProp = async (): Promise<string> => this.no();
  clone = async (): Promise<void> => this.no();
  mountpoint = async (): Promise<string | null> => this.no();
  mount = async (): Promise<void> => this.no();
  unmount = async (): Promise<void> => this.no();
}

/** A device: image files, boot facts in files (what the kernel would say), Grub's files in memory, its state dir. */
export class FakeDevice {
  /** On tmpfs when there is one: the store fsyncs every transaction (synchronous=FULL), the matrix runs ~1000 of them. */
  readonly dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ua-matrix-'));
  readonly config: Config;
  readonly grub: MemoryGrubPort;
  readonly zfs: FakeZfs;
  readonly migrated = join(this.dir, 'migrated');
  clock = Date.UTC(2026, 0, 1);
  boots = 0;
  /** A hook that kills the process (per start): set by the test. */
  crashPoint: (p: SwitchCrashPoint) => void = () => undefined;
  health: HealthMode = 'passes';

  constructor(images: number[], booted: number) {
    this.config = parseConfig({
      deviceId: 'matrix', hardware: 'h', zfs: { pool: 'p' }, paths: { hostRoot: join(this.dir, 'host') },
      boot: { cmdlineFile: join(this.dir, 'cmdline'), bootIdFile: join(this.dir, 'boot_id') },
    });
    mkdirSync(this.config.paths.imagesDir, { recursive: true });
    mkdirSync(this.migrated);
    for (const v of images) writeFileSync(this.imagePath(v), `image ${v}\n`);
    this.zfs = new FakeZfs(new Set(images));
    this.grub = new MemoryGrubPort({ render: (v) => renderGrubCfg({ config: this.config }, v), present: () => this.present() }).install(booted);
    this.powerOn(booted);
  }

  imagePath(v: number): string {
    return join(this.config.paths.imagesDir, `${v}.img`);
  }
  present(): Set<number> {
    return new Set(listImages(this.config.paths.imagesDir).map((i) => i.version));
  }
  sha256(v: number): string {
    return createHash('sha256').update(`image ${v}\n`).digest('hex');
  }

  /** The kernel's view of a boot: the image on the command line, a new boot id. */
  powerOn(version: number): void {
    writeFileSync(this.config.boot.cmdlineFile, `root=/dev/vda1 ua.image=/images/${version}.img panic=10 ro\n`);
    writeFileSync(this.config.boot.bootIdFile, `${randomUUID()}\n`);
  }

  /** A power cycle: Grub picks from its files (consuming a trial), that image boots. */
  boot(): number {
    const v = this.grub.boot();
    if (v === null || !existsSync(this.imagePath(v))) throw new Error(`Grub found nothing to boot (selected ${String(v)})`);
    this.boots++;
    this.powerOn(v);
    return v;
  }

  /** One process: a fresh store on the same database, and the ports. `close` ends it. */
  process(): { deps: Device; close: () => void } {
    const db = openStateDb(this.config.paths.stateDir);
    const store = new Store(db, () => this.clock);
    const rebooter: Rebooter = { reboot: async () => { throw new Halt('reboot'); } };
    const stager: ImageStager = {
      recover: async () => ({ fsckExit: 0 }),
      preflight: async () => undefined,
      migrate: async (image) => {
        writeFileSync(join(this.migrated, image.split('/').pop()!), 'app.conf\n');
        return { counts: { create: 1 }, recoveredMounts: [] };
      },
    };
    const health = {
      check: async (): Promise<HealthReport> => {
        if (this.health === 'never') throw new Halt('hang');
        return this.health === 'passes'
          ? { ok: true, results: [] }
          : { ok: false, results: [{ name: 'app', kind: 'required', ok: false, exitCode: 3, output: 'app did not start' }] };
      },
    };
    const deps: Device = {
      config: this.config, store, zfs: this.zfs, decompressor: new XzCli(), dispatcher: undefined as unknown as Dispatcher, log: silentLogger(),
      now: () => this.clock, random: () => 0.5,
      boot: new KernelBootInfo(this.config.boot.cmdlineFile, this.config.boot.imageParam, this.config.boot.bootIdFile),
      rebooter, grub: this.grub, stager, health, crashPoint: (p) => this.crashPoint(p),
      idle: { check: async () => ({ busy: false, reasons: [], notes: [] }) },
      space: { freeBytes: () => 2 ** 40 },
    };
    return { deps, close: () => db.close() };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
