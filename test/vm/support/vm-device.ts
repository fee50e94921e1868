// The e2e appliance as a whole: builds (or reuses) every part, then boots it one fresh QEMU at a time with a plan.
import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ensureZfsFuse, zfsRetry } from '../../../src/sandbox/pools.js';
import { makeThrowawayCa } from '../../../src/sandbox/tls.js';
import { parseGrubenv } from '../../../src/boot/grubenv.js';
import { guestRootTar } from './guest-root.js';
import { buildApplianceTree, guestConfig, POOL } from './appliance.js';
import { ensurePackages } from '../../package/support/packages.js';
import { buildVersions, cli, LAST_VERSION, makeGuestPool, makeKey, startPublisher, type Publisher } from './images.js';
import { installGrubModules, makeExt4Disk, makeOuterDisk, makePlanDisk, readOuterFile } from './disk.js';
import { boot, type BootResult, type Marker } from './qemu.js';

export interface Plan {
  /**
   * After the boot is up and reported: stay (the agent may reboot by itself), power off, reboot (a plain reboot), or
   * settle: power off once the deployment of `version` has ended.
   */
  then: 'wait' | 'poweroff' | 'reboot' | 'settle';
  version?: number;
  /**
   * With 'settle': instead of powering off, the fleet server then offers this version (for this boot only) and the
   * agent upgrades and reboots by itself: one boot is both a scenario's last and the next one's first.
   */
  next?: number;
  /** Files written before the agent starts (e2e-prepare), e.g. a changed config to migrate. */
  write?: Record<string, string>;
  /** Bytes of fresh random data written to DATA_FILE before the agent starts (a migration that takes a while). */
  dataMiB?: number;
  /** Environment of the agent's units for this boot only (e.g. UPGRADE_AGENT_CRASH_AT), through /run/e2e/agent.env. */
  agentEnv?: Record<string, string>;
}

export interface NamedBoot extends BootResult {
  name: string;
}

export interface VmDevice {
  work: string;
  outerDisk: string;
  publisher: Publisher;
  boots: NamedBoot[];
  setTarget(version: number | null): Promise<void>;
  boot(name: string, plan: Plan, o?: { limitSec?: number; killWhen?: (m: Marker) => boolean; killDelayMs?: number }): Promise<NamedBoot>;
  grubenv(): Promise<Map<string, string> | null>;
  grubCfg(): Promise<string>;
  /** Destroys the publisher's pool (the disk files stay under work/ for a look after the run). */
  close(): Promise<void>;
  /** The console logs of the given boots, for a failing test. */
  logs(boots: NamedBoot[]): string;
}

const IMAGE_MIB = 512;
const OUTER_MIB = 4 * IMAGE_MIB + 512;
export const BOOT_LIMIT_SEC = 900;

/** The agent's log lines every boot watches for on the console (markers of kind 'console', data: the name). */
export const CONSOLE_MARKS = {
  'migrate-planned': /"msg":"migrate: planned"/,
  'trial-armed': /"msg":"trial armed"/,
  'reboot-into-trial': /"msg":"rebooting into the trial"/,
  // UPGRADE_AGENT_CRASH_HOW=stop: the agent stopped itself at its crash point (nothing more is written).
  'crash-point-stopped': /"msg":"crash point reached: process stopped"/,
} as const;
export type ConsoleMark = keyof typeof CONSOLE_MARKS;

export async function makeVmDevice(projectDir: string, log: (s: string) => void): Promise<VmDevice> {
  await ensureZfsFuse();
  const cacheDir = join(projectDir, '.cache/vm');
  const work = join(cacheDir, 'run');
  // Pools of an earlier run (killed before its cleanup) would keep the work directory busy.
  const pools = (await execa('zpool', ['list', '-H', '-o', 'name'])).stdout.split('\n').filter((n) => n.startsWith(POOL));
  for (const name of pools) await zfsRetry('zpool', ['destroy', '-f', name]);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const t0 = Date.now();
  const step = (s: string) => log(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${s}`);

  const rootTar = await guestRootTar(projectDir, cacheDir, step);
  const signing = await makeKey(work);
  const debs = await ensurePackages(projectDir, step);
  step('appliance tree: apt-get install ./upgrade-agent_*.deb ./upgrade-agent-node_*.deb');
  const app = await buildApplianceTree({ rootTar, dir: join(work, 'tree'), projectDir, debs: [debs.agent, debs.node], key: signing.key });
  step(`publisher: image 1 and versions 2..${LAST_VERSION}`);
  const publisher = await startPublisher(work, app.dir, IMAGE_MIB, signing);
  await buildVersions(publisher, app.dir, app.kernelVersion, work);

  step('guest pool and the outer disk');
  const outer = join(work, 'outer');
  mkdirSync(join(outer, 'images'), { recursive: true });
  mkdirSync(join(outer, 'boot/grub'), { recursive: true });
  const poolDisk = join(work, 'pool.raw');
  await makeGuestPool(publisher, poolDisk, join(outer, 'images'), work);
  // grub.cfg from the project's own generator, for a factory device on image 1.
  const hostCfg = join(work, 'host-config.json');
  const cmdline = join(work, 'factory-cmdline');
  writeFileSync(cmdline, 'root=/dev/vda1 ua.image=/images/1.img ro\n');
  const cfg = guestConfig(signing.key) as { paths: object; boot: object };
  writeFileSync(hostCfg, JSON.stringify({ ...cfg, paths: { hostRoot: outer, stateDir: join(work, 'factory-state'), socket: join(work, 'factory.sock') }, fleet: { url: null, caFile: null },
    boot: { ...cfg.boot, cmdlineFile: cmdline } }));
  writeFileSync(join(outer, 'boot/grub/grub.cfg'), await cli(['grub-cfg', '--print', '--config', hostCfg]));
  await execa('grub-editenv', [join(outer, 'boot/grub/grubenv'), 'create']);
  installGrubModules(outer);
  const outerDisk = join(work, 'outer.raw');
  await makeOuterDisk(outerDisk, outer, OUTER_MIB, work);
  rmSync(outer, { recursive: true, force: true });

  const fleetDir = join(work, 'fleet');
  mkdirSync(join(fleetDir, 'tls'), { recursive: true });
  await makeThrowawayCa(join(fleetDir, 'tls'));
  const fleetDisk = join(work, 'fleet.raw');
  const planDisk = join(work, 'plan.raw');
  const bootsDir = join(work, 'boots');
  mkdirSync(bootsDir);
  step('ready');

  const boots: NamedBoot[] = [];
  const dev: VmDevice = {
    work, outerDisk, publisher, boots,
    async setTarget(version) {
      writeFileSync(join(fleetDir, 'target.json'), JSON.stringify({ version }));
      const kib = Number((await execa('du', ['-sk', fleetDir])).stdout.split('\t')[0]);
      await makeExt4Disk(fleetDisk, fleetDir, Math.ceil(kib / 1024) + 32);
    },
    async boot(name, plan, o = {}) {
      if (!existsSync(fleetDisk)) await dev.setTarget(null);
      makePlanDisk(planDisk, JSON.stringify(plan));
      const n = boots.length + 1;
      const base = join(bootsDir, `${String(n).padStart(2, '0')}-${name}`);
      const r = await boot({
        disks: [outerDisk, poolDisk, fleetDisk, planDisk], consoleLog: `${base}.console.log`, markerLog: `${base}.markers.log`,
        limitSec: o.limitSec ?? BOOT_LIMIT_SEC, consoleMarks: CONSOLE_MARKS,
        ...(o.killWhen ? { killWhen: o.killWhen } : {}), ...(o.killDelayMs ? { killDelayMs: o.killDelayMs } : {}),
      });
      const named = { ...r, name: `${n}-${name}` };
      boots.push(named);
      appendFileSync(join(bootsDir, 'index.log'), `${named.name}: ${r.end} after ${((r.endedAt - r.startedAt) / 1000).toFixed(1)} s; booted ${r.cmdline}\n`);
      log(`boot ${named.name}: ${r.end} after ${((r.endedAt - r.startedAt) / 1000).toFixed(1)} s (${r.cmdline ?? 'no kernel'})`);
      return named;
    },
    async grubenv() {
      const buf = await readOuterFile(outerDisk, '/boot/grub/grubenv');
      if (buf === null) return null;
      try {
        return parseGrubenv(buf);
      } catch {
        return null;
      }
    },
    async grubCfg() {
      return (await readOuterFile(outerDisk, '/boot/grub/grub.cfg'))?.toString('utf8') ?? '';
    },
    close: () => publisher.pool.destroy(),
    logs(list) {
      return list.map((b) => `===== boot ${b.name} (${b.end}) console =====\n${b.console}\n===== markers =====\n${b.markers.map((m) => `${m.atMs} ${m.kind} ${JSON.stringify(m.data)}`).join('\n')}`).join('\n');
    },
  };
  return dev;
}
