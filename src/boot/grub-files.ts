// Writes grub.cfg crash-safely: Grub at the next boot sees the old file or the new one, never half of one.
import { join } from 'node:path';
import { BootError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';

export const GRUB_CFG_NAME = 'grub.cfg';

export function grubCfgPath(grubDir: string): string {
  return join(grubDir, GRUB_CFG_NAME);
}

/** tmp → fsync → rename → fsync dir. Grub opens grub.cfg by path at each boot, so a new inode is fine. */
export function writeGrubCfg(grubDir: string, text: string): void {
  // An empty or cut-off text would boot nothing; generateGrubCfg always ends with a newline.
  if (!text.includes('menuentry ') || !text.endsWith('\n'))
    throw new BootError('E_GRUB_CFG_INVALID', 'refusing to write a grub.cfg without menu entries', { context: { grubDir } });
  const path = grubCfgPath(grubDir);
  try {
    writeFileAtomic(path, text);
  } catch (err) {
    throw new BootError('E_GRUB_WRITE', `cannot write ${path}: ${(err as Error).message}`, { cause: err, context: { path } });
  }
}
