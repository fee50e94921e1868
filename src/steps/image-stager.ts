// The image side of staging behind one seam: repair after a cut, pre-flight inside the image, migrate config into it.
import { join } from 'node:path';
import { stat, statfs } from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { Config } from '../config.js';
import type { ImageMounter } from '../adapters/image-mount.js';
import type { ImageFsck } from '../adapters/fsck.js';
import { migrateIntoImage, planMigration, recoverInterruptedImage, type MigrateDeps } from './migrate.js';
import { checkBootFiles } from './preflight.js';
import { UpgradeError } from '../errors.js';

export interface ImageStager {
  /** A cut mid-migration: our leftover mounts released, the image's journal replayed. Returns what it found (journaled). */
  recover(imagePath: string): Promise<Record<string, unknown>>;
  /** Inside the image: kernel and initrd where the Grub entry looks, room for the migration. Throws E_PREFLIGHT. */
  preflight(imagePath: string): Promise<void>;
  /** The allow-listed config into the image (idempotent), the image proven clean after. Returns what it did (journaled). */
  migrate(imagePath: string): Promise<{ counts: Record<string, number>; recoveredMounts: string[] }>;
}

/** The real one: loop mounts (src/adapters/image-mount.ts), e2fsck (src/adapters/fsck.ts) and src/steps/migrate.ts. */
export class LoopImageStager implements ImageStager {
  constructor(private readonly o: { mounter: ImageMounter; fsck: ImageFsck; migrate: Config['migrate']; log: Logger }) {}

  private get deps(): MigrateDeps {
    return { mounter: this.o.mounter, fsck: this.o.fsck, log: this.o.log };
  }

  async recover(imagePath: string): Promise<Record<string, unknown>> {
    return { ...(await recoverInterruptedImage(this.deps, imagePath)) };
  }

  async preflight(imagePath: string): Promise<void> {
    const { mounter } = this.o;
    const mp = await mounter.makeMountpoint();
    try {
      await mounter.mount(imagePath, mp, { readOnly: true });
      checkBootFiles(mp);
      await this.checkMigrationRoom(mp);
    } finally {
      await mounter.unmount(mp);
    }
  }

  async migrate(imagePath: string): Promise<{ counts: Record<string, number>; recoveredMounts: string[] }> {
    const m = this.o.migrate;
    const report = await migrateIntoImage(this.deps, {
      imagePath, sourceRoot: m.sourceRoot, allow: m.allow, deny: m.deny, dryRun: false,
    });
    return { counts: report.counts, recoveredMounts: report.recoveredMounts };
  }

  /** The files the migration would write fit in the image (plus a margin for directories and inodes). */
  private async checkMigrationRoom(imageRoot: string): Promise<void> {
    const m = this.o.migrate;
    const plan = await planMigration({ sourceRoot: m.sourceRoot, allow: m.allow, deny: m.deny }, imageRoot);
    let need = 1 << 20;
    for (const e of plan.entries) {
      if (e.kind === 'file' && (e.action === 'create' || e.action === 'update')) need += (await stat(join(m.sourceRoot, e.path))).size;
    }
    const fs = await statfs(imageRoot);
    const free = fs.bavail * fs.bsize;
    if (free < need) {
      throw new UpgradeError('E_PREFLIGHT', `the image has ${free} bytes free, the migration needs ${need}`, { context: { free, need } });
    }
  }
}
