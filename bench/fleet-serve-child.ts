// Fleet simulation server (a child process): `upgradectl serve`'s own wiring (openServe) with a diff builder that sleeps.
import { createHash, randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { loadServeConfig } from '../src/fleet/serve-config.js';
import { openServe } from '../src/fleet/serve-main.js';
import type { DiffBuilder } from '../src/fleet/diff-builds.js';
import { silentLogger } from '../src/log.js';

/**
 * Stands in for `zfs send -i | xz` (no pool here): takes `buildMs`, then writes 64 KiB (tmp + rename, as the real
 * builder does). Only diffs to `release` can be built.
 */
function sleepingBuilder(release: number, buildMs: number): DiffBuilder {
  return {
    canBuild: async (from, to) => from < to && to === release,
    build: async (_from, _to, out, signal) => {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, buildMs);
        signal.addEventListener('abort', () => (clearTimeout(t), reject(new Error('aborted'))), { once: true });
      });
      const bytes = randomBytes(64 * 1024);
      await writeFile(`${out}.tmp`, bytes);
      await rename(`${out}.tmp`, out);
      return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    },
  };
}

async function main(): Promise<void> {
  const [configPath, release, buildMs] = [process.argv[2] ?? '', Number(process.argv[3]), Number(process.argv[4])];
  const srv = await openServe(loadServeConfig(configPath), silentLogger(), { builder: sleepingBuilder(release, buildMs) });
  process.once('SIGTERM', () => {
    void srv.close().finally(() => process.exit(0));
  });
  process.send?.({ type: 'listening', url: srv.url });
}

main().catch((err: unknown) => {
  process.stderr.write(`fleet-serve-child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
