// The Grub port's contract: the same cases against the real port (files, real grub-editenv) and the in-memory fake.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { FileGrubPort } from '../../src/adapters/grub-port.js';
import { MemoryGrubPort } from '../../src/boot/grub-port-memory.js';
import type { GrubPort, GrubWrite } from '../../src/boot/grub-port.js';
import type { BootFilesFlusher } from '../../src/adapters/boot-flush.js';
import { simulateBootSelection } from '../../src/boot/boot-sim.js';
import { readGrubenv, renderGrubenv, grubenvPath } from '../../src/boot/grubenv.js';
import { grubCfgPath } from '../../src/boot/grub-files.js';
import { renderGrubCfg } from '../../src/core/switch-grub.js';
import { parseConfig } from '../../src/config.js';
import { listImages } from '../../src/util/images-dir.js';
import { silentLogger } from '../../src/log.js';
import { parseMounts, readMounts } from '../../src/util/proc-mounts.js';

/** One implementation under test, with what the contract needs to look at: Grub's next boot and the recorded writes. */
interface Subject {
  port: GrubPort;
  /** What Grub would boot next from the files, and (boot: true) the boot itself, clearing the trial as Grub does. */
  next(boot?: boolean): number | null;
  writes(): string[];
  /** Only the real one: grub-editenv's own reading of the grubenv written. */
  editenvList?: () => Promise<string>;
}

let dir: string;
let failFlush = false;

function setup(): { config: ReturnType<typeof parseConfig>; present: () => Set<number> } {
  dir = mkdtempSync(join(tmpdir(), 'ua-grubport-'));
  const config = parseConfig({ deviceId: 'd', hardware: 'h', zfs: { pool: 'p' }, paths: { hostRoot: join(dir, 'host') } });
  mkdirSync(config.paths.imagesDir, { recursive: true });
  mkdirSync(config.paths.grubDir, { recursive: true });
  for (const v of [1, 2]) writeFileSync(join(config.paths.imagesDir, `${v}.img`), 'x');
  return { config, present: () => new Set(listImages(config.paths.imagesDir).map((i) => i.version)) };
}

const subjects: Record<string, () => Subject> = {
  file: () => {
    const { config, present } = setup();
    const g = config.paths.grubDir;
    const journal: string[] = [];
    const flusher: BootFilesFlusher = {
      flush: async () => {
        if (failFlush) throw Object.assign(new Error('frozen'), { code: 'E_BOOT_FLUSH' });
        return { kind: 'not-needed', mountpoint: '/', fstype: 'tmpfs', ms: 0 };
      },
      thawIfFrozen: async () => undefined,
    };
    const port = new FileGrubPort({
      grubDir: g, render: (v) => renderGrubCfg({ config }, v), flusher, log: silentLogger(),
      journal: (event, data) => journal.push(`${event}:${String(data['after'])}`),
      mounts: () => readMounts(),
    });
    writeFileSync(grubCfgPath(g), renderGrubCfg({ config }, 1));
    return {
      port,
      writes: () => journal,
      next: (boot = false) => {
        let env: Map<string, string> | null;
        try {
          env = readGrubenv(g);
        } catch {
          env = null;
        }
        const sel = simulateBootSelection(readFileSync(grubCfgPath(g), 'utf8'), env, present());
        if (boot && sel.envAfter && env) writeFileSync(grubenvPath(g), renderGrubenv(sel.envAfter));
        return sel.version;
      },
      editenvList: async () => (await execa('grub-editenv', [grubenvPath(g), 'list'])).stdout,
    };
  },
  memory: () => {
    const { config, present } = setup();
    const journal: string[] = [];
    const port = new MemoryGrubPort({
      render: (v) => renderGrubCfg({ config }, v), present,
      journal: (event, data) => journal.push(`${event}:${String(data['after'])}`),
    }).install(1);
    return { port, writes: () => journal, next: (boot = false) => (boot ? port.boot() : port.nextBoot().version) };
  },
};

afterEach(() => {
  failFlush = false;
  rmSync(dir, { recursive: true, force: true });
});

describe.each(Object.keys(subjects))('GrubPort (%s)', (name) => {
  let s: Subject;
  beforeEach(() => {
    s = subjects[name]!();
  });
  const flushed = (...after: GrubWrite[]) => after.map((a) => `boot-files-flushed:${a}`);

  it('starts from an installed grub.cfg: the committed image boots, nothing armed', () => {
    s.port.checkWritable();
    expect(s.port.defaultVersion()).toBe(1);
    expect(s.port.trialArmed()).toBeNull();
    expect(s.next()).toBe(1);
  });

  it('arms a one-shot trial: it boots once, then the committed default; one flush for both writes', async () => {
    const between: (number | null)[] = [];
    await s.port.armTrial(2, 1, () => between.push(s.port.trialArmed()));
    expect(between).toEqual([null]); // grub.cfg first, the trial armed last
    expect(s.port.trialArmed()).toBe(2);
    expect(s.port.defaultVersion()).toBe(1);
    if (s.editenvList) expect(await s.editenvList()).toMatch(/^next_entry=img-2$/m);
    expect(s.next(true)).toBe(2);
    expect(s.port.trialArmed()).toBeNull();
    expect(s.next(true)).toBe(1);
    expect(s.writes()).toEqual(flushed('trial-armed'));
  });

  it('disarms a trial before its boot', async () => {
    await s.port.armTrial(2, 1);
    await s.port.disarm('disarmed');
    expect(s.port.trialArmed()).toBeNull();
    if (s.editenvList) expect(await s.editenvList()).toMatch(/^next_entry=$/m);
    expect(s.next()).toBe(1);
    expect(s.writes()).toEqual(flushed('trial-armed', 'disarmed'));
  });

  it('moves the default: every later boot takes it', async () => {
    await s.port.setDefault(2, 'default-moved');
    expect(s.port.defaultVersion()).toBe(2);
    expect(s.next(true)).toBe(2);
    expect(s.next(true)).toBe(2);
  });

  it('restores the committed boot from a moved default and an armed trial in one write', async () => {
    await s.port.armTrial(2, 1);
    await s.port.setDefault(2, 'default-moved');
    await s.port.restoreCommitted(1, 'unhealthy');
    expect(s.port.trialArmed()).toBeNull();
    expect(s.port.defaultVersion()).toBe(1);
    expect(s.next()).toBe(1);
    expect(s.writes()).toEqual(flushed('trial-armed', 'default-moved', 'unhealthy'));
  });

  it('refuses to render a default that is not among the images, before writing anything', async () => {
    await expect(s.port.setDefault(9, 'default-moved')).rejects.toMatchObject({ code: 'E_GRUB_COMMITTED_MISSING' });
    expect(s.port.defaultVersion()).toBe(1);
    expect(s.writes()).toEqual([]);
  });
});

describe('FileGrubPort only', () => {
  it('records a failed flush without failing the write', async () => {
    const s = subjects['file']!();
    failFlush = true;
    await s.port.armTrial(2, 1);
    expect(s.port.trialArmed()).toBe(2);
    expect(s.writes()).toEqual(['boot-files-flush-failed:trial-armed']);
  });

  it('pre-flight refuses a grub directory on ZFS', () => {
    const { config } = setup();
    const port = new FileGrubPort({
      grubDir: config.paths.grubDir, render: (v) => renderGrubCfg({ config }, v), log: silentLogger(), journal: () => undefined,
      flusher: { flush: async () => ({ kind: 'not-needed', mountpoint: '/', fstype: 'x', ms: 0 }), thawIfFrozen: async () => undefined },
      mounts: () => parseMounts(`tank/boot ${config.paths.grubDir} zfs rw 0 0\n`),
    });
    expect(() => port.checkWritable()).toThrow(/zfs/);
  });
});
