// Reference fleet server (node:https): static files with ETag/Range/If-Range, POST /v1/checkin, and test fault knobs.
import { open, stat } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { contentTypeOf, etagOf, ifRangeMatches, lastModifiedOf, parseRange, readAt, resolveUnder, sendBody } from './static-files.js';

/** Test-only misbehaviour. The object is live: change it between requests through the server handle. */
export interface FaultHooks {
  /** Only these request paths misbehave (body faults and `down`); all paths when unset. */
  paths?: string[];
  /** Path → how many more requests get `202 Accepted` + `Retry-After` ("diff being built"); Infinity: for ever. */
  pending?: Map<string, number>;
  /** The Retry-After of those 202 answers ('1' when unset): '0' or a past HTTP-date is what a broken CDN node sends. */
  retryAfter?: string;
  /** Check-ins answer `503` with this Retry-After instead of the check-in callback's answer. */
  checkinRetryAfter?: string;
  /** Path → Location: GETs answer 302, the check-in POST 307 (a CDN's redirect; or an attacker's, to http://). */
  redirects?: Map<string, string>;
  /** Destroy every request's socket at once: a dead mirror. */
  down?: boolean;
  /** Pace the body at this rate. */
  dripBytesPerSec?: number;
  /** Send this many body bytes, then stall forever without closing. */
  hangAfterBytes?: number;
  /** Announce this Content-Length whatever the body really is (connection closed after the body). */
  lieContentLength?: number;
  /** Append this many garbage bytes after the file; the response is chunked (no Content-Length) so only counting catches it. */
  extraBytes?: number;
  /** Close the connection after this many body bytes of a response. */
  truncateAt?: number;
  /** Serve a transformed copy of the file (same ETag: a mirror that lies). */
  replaceBody?: (buf: Buffer) => Buffer;
}

export interface PathStats {
  requests: number;
  /** Body bytes the socket accepted (write callbacks), per path, over all requests. */
  bytesSent: number;
  /** The Range header of each request, in order ('' when there was none). */
  ranges: string[];
}

export interface FleetServerOptions {
  root: string;
  tls: { key: string; cert: string };
  host?: string;
  port?: number;
  /** Answers POST /v1/checkin with this JSON; 404 when unset. */
  checkin?: (body: unknown) => object | Promise<object>;
  faults?: FaultHooks;
}

export interface FleetServer {
  url: string;
  port: number;
  stats: Map<string, PathStats>;
  faults: FaultHooks;
  close(): Promise<void>;
}

const MAX_CHECKIN_BYTES = 64 * 1024;

export async function startFleetServer(opts: FleetServerOptions): Promise<FleetServer> {
  const stats = new Map<string, PathStats>();
  const faults = opts.faults ?? {};
  const sockets = new Set<Socket>();
  const server: Server = createServer({ key: opts.tls.key, cert: opts.tls.cert }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`internal error: ${(err as Error).message}\n`);
      } else {
        res.destroy();
      }
    });
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'https://fleet.invalid').pathname;
    const st = stats.get(path) ?? { requests: 0, bytesSent: 0, ranges: [] };
    stats.set(path, st);
    st.requests++;
    st.ranges.push(req.headers.range ?? '');
    const faulty = faults.paths === undefined || faults.paths.includes(path);
    if (faults.down && faulty) {
      req.socket.destroy();
      return;
    }
    const location = faults.redirects?.get(path);
    if (location !== undefined) {
      res.writeHead(req.method === 'POST' ? 307 : 302, { location, 'content-length': '0' }).end();
      return;
    }
    if (path === '/v1/checkin') return checkin(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const left = faults.pending?.get(path) ?? 0;
    if (left > 0) {
      faults.pending?.set(path, left - 1);
      res.writeHead(202, { 'retry-after': faults.retryAfter ?? '1', 'content-length': '0' }).end();
      return;
    }
    const file = resolveUnder(opts.root, path);
    const info = file === null ? null : await stat(file, { bigint: true }).catch(() => null);
    if (file === null || info === null || !info.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    await serveFile(req, res, file, info, st, faulty ? faults : {});
  }

  async function checkin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!opts.checkin) {
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    if (faults.checkinRetryAfter !== undefined) {
      res.writeHead(503, { 'retry-after': faults.checkinRetryAfter, 'content-length': '0' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > MAX_CHECKIN_BYTES) {
        res.writeHead(413).end();
        return;
      }
      chunks.push(chunk);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('body is not JSON\n');
      return;
    }
    const answer = JSON.stringify(await opts.checkin(body));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer);
  }

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    stats,
    faults,
    close: () =>
      new Promise<void>((done) => {
        // Hung and dripping responses never end by themselves: cut them.
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}

export async function serveFile(
  req: IncomingMessage, res: ServerResponse, file: string, info: BigIntStats, st: PathStats, f: FaultHooks,
): Promise<void> {
  const fh = await open(file, 'r');
  try {
    let source: { size: number; read: (pos: number, len: number) => Promise<Buffer> } = {
      size: Number(info.size),
      read: (pos, len) => readAt(fh, pos, len),
    };
    if (f.replaceBody) {
      const replaced = f.replaceBody(await fh.readFile());
      source = { size: replaced.length, read: async (pos, len) => replaced.subarray(pos, pos + len) };
    }
    const etag = etagOf(info);
    const lastModified = lastModifiedOf(info);
    const headers: Record<string, string | number> = {
      etag, 'last-modified': lastModified, 'accept-ranges': 'bytes', 'content-type': contentTypeOf(file),
    };
    const ifRange = req.headers['if-range'] as string | undefined;
    const range = ifRangeMatches(ifRange, etag, lastModified) ? parseRange(req.headers.range, source.size) : { kind: 'full' as const };
    if (range.kind === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'content-range': `bytes */${source.size}`, 'content-length': 0 }).end();
      return;
    }
    const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, source.size - 1];
    const length = end - start + 1;
    if (range.kind === 'partial') headers['content-range'] = `bytes ${start}-${end}/${source.size}`;
    if (f.extraBytes === undefined) headers['content-length'] = f.lieContentLength ?? length;
    res.writeHead(range.kind === 'partial' ? 206 : 200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await sendBody(res, source.read, start, end + 1, f, (n) => (st.bytesSent += n));
  } finally {
    await fh.close();
  }
}
