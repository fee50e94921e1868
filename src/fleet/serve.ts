// `upgradectl serve`: one HTTPS process for manifests, streams (built on demand), check-ins and the operator's API.
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { asUpgradeError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { serveFile } from './server.js';
import { resolveUnder } from './static-files.js';
import type { FleetService } from './fleet-service.js';
import type { ServeConfig } from './serve-config.js';

const MAX_BODY = 64 * 1024;
const NO_STORE = 'no-store';

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    total += c.length;
    if (total > MAX_BODY) throw new UsageError('E_USAGE', 'request body too large');
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new UsageError('E_USAGE', 'request body is not JSON');
  }
}

function json(res: ServerResponse, status: number, body: unknown, cache = NO_STORE): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': cache }).end(text);
}

function later(res: ServerResponse, status: 202 | 503, retryAfterSec: number): void {
  res.writeHead(status, { 'retry-after': String(retryAfterSec), 'cache-control': NO_STORE, 'content-length': '0' }).end();
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, cache: string): Promise<boolean> {
  const info = await stat(file, { bigint: true }).catch(() => null);
  if (info === null || !info.isFile()) return false;
  res.setHeader('cache-control', cache);
  await serveFile(req, res, file, info, { requests: 0, bytesSent: 0, ranges: [] }, {});
  return true;
}

export async function startServe(cfg: ServeConfig, svc: FleetService, log: Logger): Promise<RunningServer> {
  const token = cfg.adminTokenFile === null ? null : Buffer.from(readFileSync(cfg.adminTokenFile, 'utf8').trim());
  const immutable = `public, max-age=${cfg.cache.immutableMaxAgeSec}, immutable`;
  const short = `public, max-age=${cfg.cache.manifestMaxAgeSec}`;
  const sockets = new Set<Socket>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'https://fleet.invalid').pathname;
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (path === '/v1/checkin' && req.method === 'POST') {
      const answer = await svc.checkin(await readJson(req));
      return answer === null ? json(res, 400, { code: 'E_USAGE', message: 'not a check-in report' }) : json(res, 200, answer);
    }
    let m = /^\/v1\/diffs\/(\d+)\/(\d+)$/.exec(path);
    if (m && get) {
      const a = await svc.diffOffer(Number(m[1]), Number(m[2]));
      if (a.kind === 'wait') return later(res, a.status, a.retryAfterSec);
      if (a.kind === 'none') return json(res, 404, { code: a.code, message: a.message });
      return json(res, 200, JSON.parse(a.body), short);
    }
    if (path.startsWith('/v1/admin/')) return admin(req, res, path.slice('/v1/admin/'.length));
    if (!get) return json(res, 405, { code: 'E_USAGE', message: 'method not allowed' });
    if (path.startsWith('/manifests/') || path.startsWith('/delegations/')) {
      const file = resolveUnder(cfg.publishDir, path);
      if (file !== null && (await sendFile(req, res, file, short))) return;
      return json(res, 404, { code: 'E_HTTP_STATUS', message: 'not found' }, `public, max-age=${Math.min(cfg.cache.manifestMaxAgeSec, 10)}`);
    }
    if (path.startsWith('/streams/')) {
      const file = resolveUnder(cfg.publishDir, path);
      if (file !== null && (await sendFile(req, res, file, immutable))) return;
      m = /^\/streams\/(\d+)-(\d+)\.zfs(\.xz)?$/.exec(path);
      if (m && (m[3] !== undefined) === (cfg.diffs.compression === 'xz')) {
        const [from, to] = [Number(m[1]), Number(m[2])];
        const ask = await svc.builds.ask(from, to);
        if (ask.kind === 'ready' && (await sendFile(req, res, ask.row.file, immutable))) {
          await svc.store.touchDiff(from, to, Date.now());
          return;
        }
        if (ask.kind !== 'ready') {
          const a = svc.notReady(ask);
          if (a.kind === 'wait') return later(res, a.status, a.retryAfterSec);
          if (a.kind === 'none') return json(res, 404, { code: a.code, message: a.message });
        }
      }
    }
    json(res, 404, { code: 'E_HTTP_STATUS', message: 'not found' });
  }

  async function admin(req: IncomingMessage, res: ServerResponse, op: string): Promise<void> {
    const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const ok = token !== null && given !== undefined && Buffer.byteLength(given) === token.length && timingSafeEqual(Buffer.from(given), token);
    if (!ok) return json(res, token === null ? 404 : 401, { code: 'E_USAGE', message: token === null ? 'the admin API is off (adminTokenFile)' : 'bad or missing bearer token' });
    if (op === 'status' && req.method === 'GET') return json(res, 200, await svc.status());
    if (req.method !== 'POST') return json(res, 405, { code: 'E_USAGE', message: 'POST' });
    const body = await readJson(req);
    return json(res, 200, await svc.admin(op, typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}));
  }

  const server: Server = createServer({ key: readFileSync(cfg.tls.keyFile), cert: readFileSync(cfg.tls.certFile), requestTimeout: 120_000, headersTimeout: 30_000 }, (req, res) => {
    // One debug line per answer: what a CDN or caching proxy in front really forwarded (UPGRADE_AGENT_LOG_LEVEL=debug).
    res.once('finish', () => log.debug({ method: req.method, url: req.url, status: res.statusCode, range: req.headers.range ?? null }, 'request answered'));
    handle(req, res).catch((raw: unknown) => {
      const err = asUpgradeError(raw);
      if (err.code === 'E_INTERNAL') log.error({ err: err.message, url: req.url }, 'request failed');
      if (res.headersSent) res.destroy();
      else json(res, err instanceof UsageError ? 400 : 500, { code: err.code, message: err.message });
    });
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.listen.port, cfg.listen.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = cfg.listen.host.includes(':') ? `[${cfg.listen.host}]` : cfg.listen.host;
  return {
    url: `https://${host}:${port}`,
    port,
    close: () => new Promise<void>((done) => {
      for (const s of sockets) s.destroy();
      server.close(() => done());
    }),
  };
}
