// What the switch does with Grub's files besides writing them: render grub.cfg from the images present, and flush.
import type { RunnerDeps } from './runner.js';
import type { BootFilesFlusher } from '../adapters/boot-flush.js';
import { generateGrubCfg, type GrubCfgOptions } from '../boot/grub-cfg.js';
import { listImages } from '../util/images-dir.js';
import { asUpgradeError } from '../errors.js';

/** grub.cfg for every image present, `committed` as the default (and the fallback). */
export function renderGrubCfg(deps: Pick<RunnerDeps, 'config'>, committed: number): string {
  const b = deps.config.boot;
  const images = listImages(deps.config.paths.imagesDir).map((i) => ({ version: i.version }));
  const opts: GrubCfgOptions = {
    images,
    committed,
    root: b.grubRootUuid ? { uuid: b.grubRootUuid } : { device: b.grubRootDevice },
    kernelRoot: b.kernelRoot,
    imageParam: b.imageParam,
    imagesPath: b.imagesPath,
    panicSec: b.panicSec,
    ...(b.extraArgs ? { extraArgs: b.extraArgs } : {}),
  };
  return generateGrubCfg(opts);
}

/**
 * Every write of Grub's files is followed by this, so a power cut right after cannot leave Grub reading the files from
 * before. A failed flush is recorded, not fatal: Grub then acts on the new files once the journal reaches the disk.
 */
export async function flushForGrub(
  deps: Pick<RunnerDeps, 'config' | 'store' | 'log'> & { bootFlush: BootFilesFlusher }, id: number, after: string,
): Promise<void> {
  try {
    deps.store.journal('boot-files-flushed', id, { after, ...(await deps.bootFlush.flush(deps.config.paths.grubDir)) });
  } catch (raw) {
    const err = asUpgradeError(raw);
    deps.store.journal('boot-files-flush-failed', id, { after, code: err.code, message: err.message });
    deps.log.warn({ id, code: err.code, err: err.message }, 'Grub files not flushed: Grub may act on them a boot late');
  }
}
