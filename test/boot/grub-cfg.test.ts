// grub.cfg generator: real grub-script-check accepts it, default/fallback point at the committed entry, bad input is refused.
import { mkdtemp, readdir, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootError, UpgradeError } from '../../src/errors.js';
import { committedEntryNumber, entryId, generateGrubCfg, type GrubCfgOptions } from '../../src/boot/grub-cfg.js';
import { writeGrubCfg } from '../../src/boot/grub-files.js';
import { simulateBootSelection } from '../../src/boot/boot-sim.js';
import { bootedVersionFromCmdline } from '../../src/boot/cmdline.js';
import { checkEntryHasPanic } from '../../src/boot/grub-checks.js';

const HOOK = fileURLToPath(new URL('../../grub.d/09_upgrade_agent', import.meta.url));
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'grub-cfg-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function opts(versions: number[], committed: number, more: Partial<GrubCfgOptions> = {}): GrubCfgOptions {
  return {
    images: versions.map((version) => ({ version })),
    committed,
    root: { uuid: '0f3c9a52-8d1e-4b7a-9c1d-2e5f6a7b8c9d' },
    kernelRoot: 'UUID=0f3c9a52-8d1e-4b7a-9c1d-2e5f6a7b8c9d',
    ...more,
  };
}

async function scriptCheck(text: string) {
  const file = join(dir, `check-${Math.random().toString(36).slice(2)}.cfg`);
  await writeFile(file, text);
  return execa('grub-script-check', [file], { reject: false });
}

/** Menu entry ids in file order: their position is the number Grub gives them. */
function menuIds(cfg: string): string[] {
  return [...cfg.matchAll(/^menuentry '(?:[^']|'\\'')*' --id (\S+) \{$/gm)].map((m) => m[1]!);
}

function refusal(fn: () => unknown): { code: string; isBoot: boolean } {
  try {
    fn();
  } catch (err) {
    if (err instanceof UpgradeError) return { code: err.code, isBoot: err instanceof BootError };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('generateGrubCfg', () => {
  const cases: [number[], number][] = [
    [[1], 1],
    [[4, 5], 4],
    [[1, 2, 3, 4, 5], 3],
    [[10, 30, 20, 50, 40], 50],
  ];
  for (const [versions, committed] of cases) {
    it(`${versions.length} image(s), committed ${committed}: grub-script-check accepts it; default and fallback name the committed entry`, async () => {
      const cfg = generateGrubCfg(opts(versions, committed, { extraArgs: 'console=ttyS0,115200n8 quiet' }));
      const check = await scriptCheck(cfg);
      expect(check.stderr).toBe('');
      expect(check.exitCode).toBe(0);

      const ids = menuIds(cfg);
      expect(ids.slice().sort()).toEqual(versions.map(entryId).sort());
      expect(cfg).toContain(`set default="${entryId(committed)}"`);
      const fallback = /^set fallback="(\d+)"$/m.exec(cfg)?.[1];
      expect(fallback).toBeDefined();
      expect(ids[Number(fallback)]).toBe(entryId(committed));
      expect(Number(fallback)).toBe(committedEntryNumber(opts(versions, committed).images, committed));

      for (const v of versions) {
        expect(cfg).toContain(`\tif loopback loop /images/${v}.img; then\n`);
        expect(cfg).toContain(
          `\t\tlinux (loop)/vmlinuz root=UUID=0f3c9a52-8d1e-4b7a-9c1d-2e5f6a7b8c9d ua.image=/images/${v}.img panic=10 ro console=ttyS0,115200n8 quiet\n`,
        );
      }
    });
  }

  it("agrees with the agent's other readers: pre-flight's panic= check and the booted-version parser", () => {
    const cfg = generateGrubCfg(opts([3, 12, 7], 12, { extraArgs: 'quiet' }));
    for (const v of [3, 7, 12]) {
      expect(() => checkEntryHasPanic(cfg, v)).not.toThrow();
      const cmdline = new RegExp(`linux \\(loop\\)/vmlinuz (.*ua\\.image=/images/${v}\\.img.*)$`, 'm').exec(cfg)?.[1];
      expect(bootedVersionFromCmdline(cmdline ?? '', 'ua.image')).toBe(v);
    }
  });

  it('clears the one-shot trial (save_env) before the trial becomes the default', () => {
    const cfg = generateGrubCfg(opts([1, 2], 1));
    const load = cfg.indexOf('load_env next_entry');
    const clear = cfg.indexOf('set next_entry=\n');
    const save = cfg.indexOf('if save_env next_entry; then');
    const adopt = cfg.indexOf('set default="${ua_trial}"');
    expect(load).toBeGreaterThan(0);
    expect(load).toBeLessThan(clear);
    expect(clear).toBeLessThan(save);
    expect(save).toBeLessThan(adopt);
    expect(adopt).toBeLessThan(cfg.indexOf('menuentry'));
  });

  it('finds the outer partition by device when no uuid is given, with the partition module it needs', async () => {
    const cfg = generateGrubCfg(opts([7], 7, { root: { device: '(hd0,msdos1)' }, kernelRoot: '/dev/vda1', imagesPath: '/srv/img/', panicSec: 5 }));
    expect(cfg).toContain("\tset root='(hd0,msdos1)'\n");
    expect(cfg).toContain('\tinsmod part_msdos\n');
    expect(cfg).not.toContain('part_gpt');
    expect(cfg).not.toContain('search ');
    expect(cfg).toContain('linux (loop)/vmlinuz root=/dev/vda1 ua.image=/srv/img/7.img panic=5 ro\n');
    expect((await scriptCheck(cfg)).exitCode).toBe(0);
  });

  it('escapes single quotes in labels', async () => {
    const cfg = generateGrubCfg({ ...opts([1, 2], 2), images: [{ version: 1, label: "Bob's image" }, { version: 2, label: "it's 'quoted'" }] });
    expect(cfg).toContain(`menuentry 'Bob'\\''s image' --id img-1 {`);
    expect((await scriptCheck(cfg)).exitCode).toBe(0);
  });

  it('grub-script-check is a real check: it rejects a broken script', async () => {
    const cfg = generateGrubCfg(opts([1, 2], 1)).replace(/\tfi\n/, '');
    expect((await scriptCheck(cfg)).exitCode).not.toBe(0);
  });

  const bad: [string, () => unknown, string][] = [
    ['committed not among images', () => generateGrubCfg(opts([1, 2], 3)), 'E_GRUB_COMMITTED_MISSING'],
    ['no images', () => generateGrubCfg(opts([], 1)), 'E_GRUB_CFG_INVALID'],
    ['version 0', () => generateGrubCfg(opts([0, 1], 1)), 'E_GRUB_CFG_INVALID'],
    ['negative version', () => generateGrubCfg(opts([-2, 1], 1)), 'E_GRUB_CFG_INVALID'],
    ['fractional version', () => generateGrubCfg(opts([1.5, 1], 1)), 'E_GRUB_CFG_INVALID'],
    ['duplicate version', () => generateGrubCfg(opts([1, 1], 1)), 'E_GRUB_CFG_INVALID'],
    ['label with newline', () => generateGrubCfg({ ...opts([1], 1), images: [{ version: 1, label: "a\n}'" }] }), 'E_GRUB_CFG_INVALID'],
    ['no root at all', () => generateGrubCfg(opts([1], 1, { root: {} })), 'E_GRUB_CFG_INVALID'],
    ['root device not a Grub device', () => generateGrubCfg(opts([1], 1, { root: { device: "hd0'; reboot" } })), 'E_GRUB_CFG_INVALID'],
    ['root uuid with a space', () => generateGrubCfg(opts([1], 1, { root: { uuid: 'abc def' } })), 'E_GRUB_CFG_INVALID'],
    ['kernelRoot with a quote', () => generateGrubCfg(opts([1], 1, { kernelRoot: "/dev/vda1'" })), 'E_GRUB_CFG_INVALID'],
    ['kernelRoot with a space', () => generateGrubCfg(opts([1], 1, { kernelRoot: '/dev/vda1 init=/bin/sh' })), 'E_GRUB_CFG_INVALID'],
    ['relative imagesPath', () => generateGrubCfg(opts([1], 1, { imagesPath: 'images' })), 'E_GRUB_CFG_INVALID'],
    ['imagesPath with ..', () => generateGrubCfg(opts([1], 1, { imagesPath: '/images/../etc' })), 'E_GRUB_CFG_INVALID'],
    ['imagesPath with newline', () => generateGrubCfg(opts([1], 1, { imagesPath: '/images\nreboot' })), 'E_GRUB_CFG_INVALID'],
    ['imageParam with =', () => generateGrubCfg(opts([1], 1, { imageParam: 'a=b' })), 'E_GRUB_CFG_INVALID'],
    ['extraArgs with $', () => generateGrubCfg(opts([1], 1, { extraArgs: 'x=${root}' })), 'E_GRUB_CFG_INVALID'],
    ['extraArgs with ;', () => generateGrubCfg(opts([1], 1, { extraArgs: 'quiet; reboot' })), 'E_GRUB_CFG_INVALID'],
    ['extraArgs with a quote', () => generateGrubCfg(opts([1], 1, { extraArgs: `quiet"` })), 'E_GRUB_CFG_INVALID'],
    ['extraArgs with newline', () => generateGrubCfg(opts([1], 1, { extraArgs: 'quiet\n}' })), 'E_GRUB_CFG_INVALID'],
    ['extraArgs overriding panic=', () => generateGrubCfg(opts([1], 1, { extraArgs: 'quiet panic=0' })), 'E_GRUB_CFG_INVALID'],
    ['extraArgs overriding root=', () => generateGrubCfg(opts([1], 1, { extraArgs: 'root=/dev/sda1' })), 'E_GRUB_CFG_INVALID'],
    ['extraArgs overriding the image param', () => generateGrubCfg(opts([1], 1, { extraArgs: 'ua.image=/x.img' })), 'E_GRUB_CFG_INVALID'],
    ['panic=0 (would never reboot)', () => generateGrubCfg(opts([1], 1, { panicSec: 0 })), 'E_GRUB_CFG_INVALID'],
    ['negative timeout', () => generateGrubCfg(opts([1], 1, { timeoutSec: -1 })), 'E_GRUB_CFG_INVALID'],
  ];
  for (const [what, fn, code] of bad) {
    it(`refuses ${what} with ${code}`, () => {
      expect(refusal(fn)).toEqual({ code, isBoot: true });
    });
  }
});

describe('writeGrubCfg', () => {
  it('writes grub.cfg whole and leaves no temporary file', async () => {
    const grubDir = await mkdtemp(join(dir, 'grubdir-'));
    const text = generateGrubCfg(opts([1, 2], 2));
    writeGrubCfg(grubDir, text);
    expect(await readFile(join(grubDir, 'grub.cfg'), 'utf8')).toBe(text);
    expect(await readdir(grubDir)).toEqual(['grub.cfg']);
  });
  it('refuses text without entries, and reports an unwritable directory as E_GRUB_WRITE', () => {
    expect(refusal(() => writeGrubCfg(dir, ''))).toEqual({ code: 'E_GRUB_CFG_INVALID', isBoot: true });
    expect(refusal(() => writeGrubCfg(join(dir, 'missing'), generateGrubCfg(opts([1], 1))))).toEqual({ code: 'E_GRUB_WRITE', isBoot: true });
  });
});

describe('simulateBootSelection', () => {
  const cfg = generateGrubCfg(opts([3, 4, 5], 4));
  const all = new Set([3, 4, 5]);
  const trial = (v: string) => new Map([['next_entry', v]]);
  it('no grubenv, or a garbled one (load_env fails): the committed image', () => {
    expect(simulateBootSelection(cfg, null, all)).toEqual({ version: 4, via: 'default', envAfter: null });
  });
  it('an armed trial boots once and is cleared; the next boot takes the committed image', () => {
    const first = simulateBootSelection(cfg, trial('img-5'), all);
    expect(first).toMatchObject({ version: 5, via: 'trial' });
    expect(first.envAfter?.get('next_entry')).toBe('');
    expect(simulateBootSelection(cfg, first.envAfter, all)).toMatchObject({ version: 4, via: 'default' });
  });
  it('a trial whose image file is missing falls back to the committed entry by number', () => {
    expect(simulateBootSelection(cfg, trial('img-5'), new Set([3, 4]))).toMatchObject({ version: 4, via: 'fallback' });
  });
  it('a next_entry naming no entry selects entry 0, which is the committed image', () => {
    expect(simulateBootSelection(cfg, trial('img-99'), all)).toMatchObject({ version: 4, via: 'trial' });
  });
  it('nothing bootable: Grub stays in its menu', () => {
    expect(simulateBootSelection(cfg, null, new Set([3]))).toMatchObject({ version: null, via: 'none' });
  });
});

describe('grub.d/09_upgrade_agent', () => {
  it('passes shellcheck -s sh when shellcheck is installed', async () => {
    const which = await execa('sh', ['-c', 'command -v shellcheck'], { reject: false });
    if (which.exitCode !== 0) return;
    const r = await execa('shellcheck', ['-s', 'sh', HOOK], { reject: false });
    expect(r.stdout).toBe('');
    expect(r.exitCode).toBe(0);
  });
  it('fails with a message on stderr when upgradectl is missing', async () => {
    const empty = await mkdtemp(join(dir, 'nopath-'));
    const r = await execa(HOOK, [], { reject: false, env: { PATH: empty }, extendEnv: false });
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/upgradectl.*not found/);
  });
  it('prints what `upgradectl grub-cfg --print` prints', async () => {
    const bin = await mkdtemp(join(dir, 'bin-'));
    const text = generateGrubCfg(opts([1, 2], 1));
    await writeFile(join(bin, 'cfg.txt'), text);
    await writeFile(join(bin, 'upgradectl'), `#!/bin/sh\n[ "$*" = "grub-cfg --print" ] || exit 9\nexec cat '${join(bin, 'cfg.txt')}'\n`);
    await chmod(join(bin, 'upgradectl'), 0o755);
    const r = await execa(HOOK, [], { reject: false, env: { PATH: `${bin}:/usr/bin:/bin` }, extendEnv: false, stripFinalNewline: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(text);
  });
});
