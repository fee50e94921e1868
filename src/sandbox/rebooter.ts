// The reboot adapter's sandbox implementation: plays Grub and the initramfs on the sandbox's files, then "powers off".
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Rebooter } from '../adapters/boot.js';
import { simulateBootSelection } from '../boot/boot-sim.js';
import { readGrubenv, renderGrubenv, grubenvPath } from '../boot/grubenv.js';
import { grubCfgPath } from '../boot/grub-files.js';
import { listImages } from '../util/images-dir.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { Logger } from '../log.js';

export interface SandboxBootOptions {
  grubDir: string;
  imagesDir: string;
  cmdlineFile: string;
  bootIdFile: string;
  kernelRoot: string;
  imageParam: string;
  imagesPath: string;
  panicSec: number;
  log: Logger;
  /** What "the machine went down" means for the caller; the CLI exits the process. */
  powerOff?: () => never;
}

export interface SandboxBootRecord {
  version: number | null;
  via: string;
  attempts: { version: number | null; via: string; problem: string | null }[];
}

/** The initramfs's checks (our local-bottom script): image present and its filesystem clean, else panic. */
async function initramfsProblem(imagePath: string): Promise<string | null> {
  if (!existsSync(imagePath)) return 'image missing';
  const r = await execa('e2fsck', ['-fn', imagePath], { reject: false });
  return r.exitCode === 0 ? null : `image damaged (e2fsck exit ${r.exitCode})`;
}

/**
 * One power cycle: Grub's selection on the real grub.cfg and grubenv (the trial is cleared on disk before it
 * boots, as our header does), then the initramfs's checks; a panic (panic=N) power-cycles again, now without
 * the trial. Records the booted image on the sandbox's kernel command line and a new boot id.
 */
export async function sandboxBoot(o: Omit<SandboxBootOptions, 'log' | 'powerOff'>): Promise<SandboxBootRecord> {
  const attempts: SandboxBootRecord['attempts'] = [];
  for (let i = 0; i < 3; i++) {
    const cfg = readFileSync(grubCfgPath(o.grubDir), 'utf8');
    let env: Map<string, string> | null;
    try {
      env = readGrubenv(o.grubDir);
    } catch {
      env = null; // garbled: load_env loads nothing
    }
    const present = new Set(listImages(o.imagesDir).map((i) => i.version));
    const sel = simulateBootSelection(cfg, env, present);
    if (sel.envAfter && env) writeFileAtomic(grubenvPath(o.grubDir), renderGrubenv(sel.envAfter));
    if (sel.version === null) {
      attempts.push({ version: null, via: sel.via, problem: 'no bootable entry: Grub stays in its menu' });
      break;
    }
    const problem = await initramfsProblem(join(o.imagesDir, `${sel.version}.img`));
    attempts.push({ version: sel.version, via: sel.via, problem });
    if (problem) continue;
    writeFileSync(o.cmdlineFile, `root=${o.kernelRoot} ${o.imageParam}=${o.imagesPath}/${sel.version}.img panic=${o.panicSec} ro\n`);
    writeFileSync(o.bootIdFile, `${randomUUID()}\n`);
    return { version: sel.version, via: sel.via, attempts };
  }
  return { version: null, via: 'none', attempts };
}

export class SandboxRebooter implements Rebooter {
  constructor(private readonly o: SandboxBootOptions) {}

  async reboot(reason: string): Promise<never> {
    const rec = await sandboxBoot(this.o);
    this.o.log.info({ reason, booted: rec.version, via: rec.via, attempts: rec.attempts }, 'sandbox reboot done');
    return (this.o.powerOff ?? (() => process.exit(0)))();
  }
}
