// Shared setup for download tests: temp dir, throwaway CA, fleet server(s), a dispatcher that trusts the CA.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createDispatcher, type Dispatcher } from '../../src/adapters/http.js';
import { UpgradeError } from '../../src/errors.js';
import { startFleetServer, type FaultHooks, type FleetServer } from '../../src/fleet/server.js';
import { silentLogger } from '../../src/log.js';
import type { DownloadOptions, DownloadProgress } from '../../src/steps/prefetch.js';
import { makeThrowawayCa, type ThrowawayCa } from './tls.js';

export interface Published {
  path: string;
  size: number;
  sha256: string;
  data: Buffer;
}

export interface Fixture {
  dir: string;
  ca: ThrowawayCa;
  root: string;
  server: FleetServer;
  dispatcher: Dispatcher;
  /** Extra servers over the same root (mirrors); closed by close(). */
  mirror(faults?: FaultHooks): Promise<FleetServer>;
  /** Writes a file under root by tmp + rename (a new inode, as a publisher would). */
  publish(name: string, data: Buffer): Promise<Published>;
  /** A fresh partial path per call. */
  partial(): string;
  /** Download options with test defaults; progress calls are collected into `progress`. */
  opts(p: Published, more?: Partial<DownloadOptions>): DownloadOptions & { progress: DownloadProgress[] };
  close(): Promise<void>;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const randomData = (n: number): Buffer => randomBytes(n);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function setupFixture(dispatcherOpts: { bodyTimeoutMs?: number; headersTimeoutMs?: number } = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'prefetch-test-'));
  const ca = await makeThrowawayCa(dir);
  const root = join(dir, 'root');
  await mkdir(root, { recursive: true });
  const servers: FleetServer[] = [];
  const mirror = async (faults?: FaultHooks): Promise<FleetServer> => {
    const s = await startFleetServer({ root, tls: { key: ca.key, cert: ca.cert }, host: '127.0.0.1', port: 0, ...(faults ? { faults } : {}) });
    servers.push(s);
    return s;
  };
  const server = await mirror();
  const dispatcher = createDispatcher({
    caFile: ca.caFile,
    headersTimeoutMs: dispatcherOpts.headersTimeoutMs ?? 5000,
    bodyTimeoutMs: dispatcherOpts.bodyTimeoutMs ?? 30_000,
    connectTimeoutMs: 5000,
  });
  let n = 0;
  return {
    dir,
    ca,
    root,
    server,
    dispatcher,
    mirror,
    async publish(name, data) {
      const file = join(root, name);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(`${file}.tmp`, data);
      await rename(`${file}.tmp`, file);
      return { path: `/${name}`, size: data.length, sha256: sha256(data), data };
    },
    partial: () => join(dir, `dl-${++n}.partial`),
    opts(p, more = {}) {
      const progress: DownloadProgress[] = [];
      return {
        urls: [`${server.url}${p.path}`],
        size: p.size,
        sha256: p.sha256,
        partialPath: join(dir, `dl-${++n}.partial`),
        saved: null,
        onProgress: (s) => progress.push({ ...s }),
        dispatcher,
        limits: { minBytesPerSec: 0, slowWindowSec: 5, deadlineSec: 60, headersTimeoutSec: 5, maxRedirects: 3 },
        checkpointBytes: 256 * 1024,
        log: silentLogger(),
        progress,
        ...more,
      };
    },
    async close() {
      await Promise.all(servers.map((s) => s.close()));
      await dispatcher.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The rejection of `p` as an UpgradeError (fails the test if it resolved or threw something else). */
export async function rejection(p: Promise<unknown>): Promise<UpgradeError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof UpgradeError) return err;
    throw new Error(`expected an UpgradeError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a rejection, but it resolved');
}

/** What a caller would have persisted from the last onProgress call. */
export function savedFrom(progress: DownloadProgress[]): { url: string; validator?: string } | null {
  const last = progress[progress.length - 1];
  if (!last) return null;
  return last.validator ? { url: last.url, validator: last.validator } : { url: last.url };
}
