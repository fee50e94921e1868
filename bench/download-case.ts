// download.maxBytesPerSec: a stream over HTTPS on 127.0.0.1, uncapped, capped, and capped across a cut + Range resume.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDispatcher } from '../src/adapters/http.js';
import { startFleetServer } from '../src/fleet/server.js';
import { silentLogger } from '../src/log.js';
import { makeThrowawayCa } from '../src/sandbox/tls.js';
import { downloadStream, type DownloadProgress } from '../src/steps/prefetch.js';

export interface DownloadRow {
  case: string;
  bytes: number;
  capBytesPerSec: number;
  sec: number;
  /** Achieved bytes/s over the whole case (both attempts for the resume). */
  bytesPerSec: number;
  /** bytesPerSec / cap (≤ 1 when the cap holds); null uncapped. */
  ofCap: number | null;
}

const MiB = 1024 * 1024;

/** Env: BENCH_DOWNLOAD_MIB (default 8), BENCH_DOWNLOAD_CAPS_MIB (default 2,4: MiB/s). */
export async function benchDownload(): Promise<DownloadRow[]> {
  const bytes = Number(process.env['BENCH_DOWNLOAD_MIB'] ?? 8) * MiB;
  const caps = (process.env['BENCH_DOWNLOAD_CAPS_MIB'] ?? '2,4').split(',').map((c) => Number(c) * MiB);
  const dir = mkdtempSync(join(tmpdir(), 'upgrade-bench-dl-'));
  const ca = await makeThrowawayCa(dir);
  mkdirSync(join(dir, 'www'));
  const data = randomBytes(bytes);
  writeFileSync(join(dir, 'www', 's.zfs'), data);
  const sha256 = createHash('sha256').update(data).digest('hex');
  const server = await startFleetServer({ root: join(dir, 'www'), tls: { key: ca.key, cert: ca.cert }, host: '127.0.0.1', port: 0 });
  const dispatcher = createDispatcher({ caFile: ca.caFile, headersTimeoutMs: 10_000, bodyTimeoutMs: 30_000, connectTimeoutMs: 5000 });
  let n = 0;
  const once = async (cap: number, partialPath = join(dir, `dl-${++n}`), saved: { url: string; validator?: string } | null = null) => {
    const progress: DownloadProgress[] = [];
    const t0 = performance.now();
    const run = downloadStream({
      urls: [`${server.url}/s.zfs`], size: bytes, sha256, partialPath, saved, dispatcher, log: silentLogger(), checkpointBytes: 1 << 20,
      onProgress: (p) => progress.push(p),
      limits: { minBytesPerSec: 0, slowWindowSec: 10, deadlineSec: 600, headersTimeoutSec: 10, maxRedirects: 0, maxBytesPerSec: cap },
    });
    const ok = await run.then(() => true, () => false);
    const last = progress.at(-1);
    return { ok, sec: (performance.now() - t0) / 1000, partialPath, saved: last ? { url: last.url, ...(last.validator ? { validator: last.validator } : {}) } : null };
  };
  const row = (name: string, cap: number, sec: number): DownloadRow => ({
    case: name, bytes, capBytesPerSec: cap, sec, bytesPerSec: bytes / sec, ofCap: cap > 0 ? bytes / sec / cap : null,
  });
  try {
    const rows: DownloadRow[] = [row('uncapped', 0, (await once(0)).sec)];
    for (const cap of caps) rows.push(row('capped', cap, (await once(cap)).sec));
    const cap = caps[0] as number;
    server.faults.truncateAt = Math.floor(bytes / 2);
    const cut = await once(cap);
    delete server.faults.truncateAt;
    if (cut.ok) throw new Error('bench: the cut download completed');
    const resumed = await once(cap, cut.partialPath, cut.saved);
    if (!resumed.ok || statSync(cut.partialPath).size !== bytes) throw new Error('bench: the resumed download did not complete');
    rows.push(row('cut at 1/2 + resume', cap, cut.sec + resumed.sec));
    return rows;
  } finally {
    await server.close();
    await dispatcher.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function renderDownload(rows: DownloadRow[]): string {
  const lines = ['| case | MiB | cap MiB/s | s | achieved MiB/s | of cap |', '|---|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    lines.push(`| ${r.case} | ${(r.bytes / MiB).toFixed(0)} | ${r.capBytesPerSec ? (r.capBytesPerSec / MiB).toFixed(1) : '-'} | ${r.sec.toFixed(2)} | ${(r.bytesPerSec / MiB).toFixed(2)} | ${r.ofCap === null ? '-' : r.ofCap.toFixed(3)} |`);
  }
  return lines.join('\n');
}
