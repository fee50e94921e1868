// A sandbox device's starting point: image <version> received into its pool and exported as the booted image.
import { join } from 'node:path';
import { execa } from 'execa';
import { makeSendFile, type ImageVersion } from './pools.js';
import { ZfsCli } from '../adapters/zfs.js';
import { exportImage } from '../steps/export.js';
import { silentLogger } from '../log.js';

/**
 * Receives `<publisherDataset>@<version>` as `<pool>/<dataset>@<version>` (a full stream, as at manufacture) and
 * exports it to `<imagesDir>/<version>.img` with the agent's own export, hash-checked against the publisher's.
 */
export async function seedDevice(opts: {
  publisherDataset: string;
  image: ImageVersion;
  pool: string;
  dataset: string;
  imagesDir: string;
  workDir: string;
}): Promise<void> {
  const { image } = opts;
  const seed = join(opts.workDir, `seed-${image.version}.zfs`);
  await makeSendFile(null, `${opts.publisherDataset}@${image.version}`, seed, 'none');
  await execa('sh', ['-c', `zfs recv "${opts.pool}/${opts.dataset}@${image.version}" < "${seed}"`]);
  const zfs = new ZfsCli({ log: silentLogger() });
  await zfs.setProps(`${opts.pool}/${opts.dataset}`, { atime: 'off', readonly: 'on' });
  await exportImage({ zfs, log: silentLogger() }, {
    pool: opts.pool, dataset: opts.dataset, layout: 'file', imageFile: 'root.img', version: image.version,
    imagesDir: opts.imagesDir, size: image.size, sha256: image.sha256, reserveBytes: 0,
  });
}
