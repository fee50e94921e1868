// The real diff builder: `zfs send -i @from @to`, through `xz` when asked, hashed as it lands on disk (tmp + rename).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Zfs } from '../adapters/zfs.js';
import type { Compression } from '../trust/manifest-types.js';
import { UpgradeError } from '../errors.js';
import { writeSendStream } from '../publish/send-stream.js';
import type { DiffBuilder } from './diff-builds.js';

export function zfsDiffBuilder(zfs: Zfs, dataset: string, compression: Compression): DiffBuilder {
  return {
    async canBuild(from, to) {
      if (from >= to) return false;
      const versions = new Set((await zfs.snapshots(dataset)).map((s) => s.version));
      return versions.has(from) && versions.has(to);
    },
    async build(from, to, outFile, signal) {
      mkdirSync(dirname(outFile), { recursive: true });
      try {
        return await writeSendStream(zfs, `${dataset}@${to}`, `${dataset}@${from}`, outFile, compression, { signal, xzErrorCode: 'E_DIFF_BUILD' });
      } catch (err) {
        throw err instanceof UpgradeError ? err : new UpgradeError('E_DIFF_BUILD', `zfs send ${dataset}@${from}..@${to}: ${(err as Error).message}`, { cause: err });
      }
    },
  };
}
