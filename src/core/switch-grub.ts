// grub.cfg as the agent renders it: every image present, `committed` as the default (the Grub port writes it).
import type { Device } from './device.js';
import { generateGrubCfg, type GrubCfgOptions } from '../boot/grub-cfg.js';
import { listImages } from '../util/images-dir.js';

/** grub.cfg for every image present, `committed` as the default (and the fallback). */
export function renderGrubCfg(deps: Pick<Device, 'config'>, committed: number): string {
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
