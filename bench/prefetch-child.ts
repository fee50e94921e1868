// The agent side of the workload bench, in its own process: the daemon's download step, then its import step.
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createDispatcher } from '../src/adapters/http.js';
import { XzCli } from '../src/adapters/decompress.js';
import { ZfsCli } from '../src/adapters/zfs.js';
import { parseConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { importStream } from '../src/steps/import.js';
import { downloadStream } from '../src/steps/prefetch.js';
import type { ChunkList } from '../src/trust/manifest-types.js';

export interface PrefetchArgs {
  url: string;
  caFile: string;
  size: number;
  sha256: string;
  chunks: ChunkList;
  /** Where the download goes (a device's /host/downloads); removed after the import. */
  downloadsDir: string;
  pool: string;
  dataset: string;
  from: number;
  to: number;
}

export interface PrefetchReport {
  downloadSec: number;
  importSec: number;
  /** CPU seconds (user + system) of this process and of the children it waited for (xz, zfs), from /proc/self/stat. */
  cpuSec: number;
}

/** utime + stime + cutime + cstime of this process, seconds (USER_HZ is 100 on Linux). */
function cpuSelfAndChildren(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  // fields 14..17 of stat(5); f[0] is field 3
  return ((f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0)) / 100;
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (!raw) throw new Error('usage: node dist/bench/prefetch-child.js <json PrefetchArgs>');
  const a = JSON.parse(raw) as PrefetchArgs;
  // The agent's own defaults for every download limit and timeout, as the daemon would run with this minimal config.
  const config = parseConfig({
    deviceId: 'bench-workload', hardware: 'bench', zfs: { pool: a.pool, dataset: a.dataset },
    paths: { hostRoot: '/nonexistent-host', downloadsDir: a.downloadsDir }, fleet: { url: a.url, caFile: a.caFile },
  });
  const dispatcher = createDispatcher({
    caFile: a.caFile,
    headersTimeoutMs: config.download.headersTimeoutSec * 1000,
    bodyTimeoutMs: config.download.slowWindowSec * 1000,
    connectTimeoutMs: config.http.connectTimeoutSec * 1000,
  });
  const log = silentLogger();
  const partial = `${a.downloadsDir}/bench.partial`;
  const complete = `${a.downloadsDir}/bench.zfs.xz`;
  const t0 = performance.now();
  await downloadStream({
    urls: [a.url], size: a.size, sha256: a.sha256, partialPath: partial, saved: null, onProgress: () => undefined, dispatcher, log,
    limits: {
      minBytesPerSec: config.download.minBytesPerSec, slowWindowSec: config.download.slowWindowSec, deadlineSec: config.download.deadlineSec,
      headersTimeoutSec: config.download.headersTimeoutSec, maxRedirects: config.http.maxRedirects, maxBytesPerSec: config.download.maxBytesPerSec,
    },
    checkpointBytes: config.download.chunkFsyncBytes,
  });
  renameSync(partial, complete);
  const t1 = performance.now();
  const result = await importStream(
    { zfs: new ZfsCli({ busyTimeoutSec: 60 }), log, decompressor: new XzCli() },
    { streamPath: complete, size: a.size, sha256: a.sha256, chunks: a.chunks, compression: 'xz', pool: a.pool, dataset: a.dataset, fromVersion: a.from, toVersion: a.to, busyTimeoutSec: 60 },
  );
  const t2 = performance.now();
  if (result !== 'received') throw new Error(`import ${a.from}→${a.to}: expected 'received', got '${result}'`);
  rmSync(complete, { force: true });
  await dispatcher.close();
  const report: PrefetchReport = { downloadSec: (t1 - t0) / 1000, importSec: (t2 - t1) / 1000, cpuSec: cpuSelfAndChildren() };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
