// The real Grub port: grub.cfg and grubenv in the grub directory, each write atomic, then flushed for Grub and journaled.
import { readFileSync } from 'node:fs';
import type { Logger } from '../log.js';
import type { BootFilesFlusher } from './boot-flush.js';
import { defaultOfCfg, stagingCfg, type GrubJournal, type GrubPort, type GrubRender, type GrubWrite } from '../boot/grub-port.js';
import { grubCfgPath, writeGrubCfg } from '../boot/grub-files.js';
import { armTrial, disarmTrial, readTrial } from '../boot/grubenv.js';
import { checkGrubenvWritable } from '../boot/grub-checks.js';
import type { MountEntry } from '../util/proc-mounts.js';
import { asUpgradeError } from '../errors.js';

export interface FileGrubPortOptions {
  grubDir: string;
  render: GrubRender;
  flusher: BootFilesFlusher;
  journal: GrubJournal;
  log: Logger;
  /** The mount table, for the pre-flight (/proc/self/mounts on a device; wiring reads it). */
  mounts: () => MountEntry[];
}

export class FileGrubPort implements GrubPort {
  constructor(private readonly o: FileGrubPortOptions) {}

  checkWritable(): void {
    checkGrubenvWritable(this.o.grubDir, this.o.mounts());
  }

  trialArmed(): number | null {
    return readTrial(this.o.grubDir);
  }

  defaultVersion(): number | null {
    try {
      return defaultOfCfg(readFileSync(grubCfgPath(this.o.grubDir), 'utf8'));
    } catch {
      return null;
    }
  }

  async armTrial(version: number, committed: number, between?: () => void): Promise<void> {
    writeGrubCfg(this.o.grubDir, stagingCfg(this.o.render, version, committed));
    between?.();
    armTrial(this.o.grubDir, version);
    await this.flush('trial-armed');
  }

  async disarm(why: GrubWrite): Promise<void> {
    disarmTrial(this.o.grubDir);
    await this.flush(why);
  }

  async setDefault(version: number, why: GrubWrite): Promise<void> {
    writeGrubCfg(this.o.grubDir, this.o.render(version));
    await this.flush(why);
  }

  async restoreCommitted(committed: number, why: GrubWrite): Promise<void> {
    disarmTrial(this.o.grubDir);
    writeGrubCfg(this.o.grubDir, this.o.render(committed));
    await this.flush(why);
  }

  /**
   * After each write: a power cut right after cannot leave Grub reading the files from before. A failed flush is
   * recorded, not fatal: Grub then acts on the new files once the journal reaches the disk (at worst a boot late).
   */
  private async flush(after: GrubWrite): Promise<void> {
    try {
      this.o.journal('boot-files-flushed', { after, ...(await this.o.flusher.flush(this.o.grubDir)) });
    } catch (raw) {
      const err = asUpgradeError(raw);
      this.o.journal('boot-files-flush-failed', { after, code: err.code, message: err.message });
      this.o.log.warn({ code: err.code, err: err.message }, 'Grub files not flushed: Grub may act on them a boot late');
    }
  }
}
