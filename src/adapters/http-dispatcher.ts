// The agent's HTTP(S) transport over node:https: keep-alive sockets, a pinned CA, connect/headers/body timeouts, no redirects.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

/** Response headers as Node hands them over (lower-case names; string | string[]). */
export type IncomingHttpHeaders = http.IncomingHttpHeaders;

export interface DispatchOptions {
  method: 'GET' | 'POST' | 'HEAD' | 'PUT';
  headers: Record<string, string>;
  body: string | Buffer | null;
  signal: AbortSignal | null;
  /** Overrides the dispatcher's headers timeout for this request. */
  headersTimeout?: number;
}

export interface DispatchResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  /** The body as it arrives: a stream, never buffered here. */
  body: Readable;
}

/** What sends one request and hands back status, headers and the body stream. It follows no redirect by itself. */
export interface Dispatcher {
  request(url: string, o: DispatchOptions): Promise<DispatchResponse>;
  close(): Promise<void>;
}

export interface DispatcherOptions {
  /** PEM file contents of the fleet CA. When given it REPLACES the system roots (a private fleet pins its own CA). */
  ca?: string;
  headersTimeoutMs: number;
  /** Longest time without a body byte arriving while the reader waits for one. */
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
  /** Open connections per host at most (default: no limit; the fleet simulation bounds its many clients with it). */
  maxSockets?: number;
}

/** Transport timeout codes this dispatcher raises (mapped to E_HTTP_TIMEOUT by http.ts). */
export const TIMEOUT = { connect: 'HTTP_CONNECT_TIMEOUT', headers: 'HTTP_HEADERS_TIMEOUT', body: 'HTTP_BODY_TIMEOUT' } as const;

function timeoutError(code: string, url: string, ms: number): Error {
  return Object.assign(new Error(`${url}: ${code.toLowerCase().replace(/_/g, ' ')} after ${ms} ms`), { code });
}

/**
 * Node's own http(s) client rather than undici: for the small exchanges an idle daemon makes (check-ins) it costs
 * about 20 MiB less resident memory (docs/benchmarks.md, "Idle daemon").
 */
export class NodeDispatcher implements Dispatcher {
  private readonly agents: { 'https:': https.Agent; 'http:': http.Agent };
  private closed = false;

  constructor(private readonly opts: DispatcherOptions) {
    const common = { keepAlive: true, ...(opts.maxSockets === undefined ? {} : { maxSockets: opts.maxSockets }) };
    this.agents = {
      'https:': new https.Agent({ ...common, ...(opts.ca === undefined ? {} : { ca: opts.ca }) }),
      'http:': new http.Agent(common),
    };
  }

  request(url: string, o: DispatchOptions): Promise<DispatchResponse> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(Object.assign(new Error('dispatcher is closed'), { code: 'HTTP_CLIENT_CLOSED' }));
      const u = new URL(url);
      const proto = u.protocol === 'https:' || u.protocol === 'http:' ? u.protocol : null;
      if (proto === null) return reject(Object.assign(new Error(`${url}: unsupported protocol ${u.protocol}`), { code: 'ERR_INVALID_PROTOCOL' }));
      const lib = proto === 'https:' ? https : http;
      const headersMs = o.headersTimeout ?? this.opts.headersTimeoutMs;
      const headers: Record<string, string | number> = { ...o.headers };
      if (o.body !== null) headers['content-length'] = Buffer.byteLength(o.body);
      const req = lib.request(u, { method: o.method, headers, agent: this.agents[proto], ...(o.signal ? { signal: o.signal } : {}) });
      let settled = false;
      const timers: NodeJS.Timeout[] = [];
      const clear = (): void => { for (const t of timers.splice(0)) clearTimeout(t); };
      const fail = (err: Error): void => {
        clear();
        if (!settled) { settled = true; reject(err); }
      };
      timers.push(setTimeout(() => req.destroy(timeoutError(TIMEOUT.headers, url, headersMs)), headersMs));
      req.on('socket', (socket) => {
        if (!socket.connecting) return; // a kept-alive socket: connected long ago
        const ms = this.opts.connectTimeoutMs;
        const t = setTimeout(() => req.destroy(timeoutError(TIMEOUT.connect, url, ms)), ms);
        timers.push(t);
        socket.once(proto === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(t));
      });
      req.on('error', fail);
      req.on('response', (res) => {
        clear();
        settled = true;
        watchBody(res, this.opts.bodyTimeoutMs, url);
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      req.end(o.body ?? undefined);
    });
  }

  close(): Promise<void> {
    this.closed = true;
    this.agents['https:'].destroy();
    this.agents['http:'].destroy();
    return Promise.resolve();
  }
}

/**
 * Destroys `res` with HTTP_BODY_TIMEOUT when no byte reached the socket for `ms` while the reader wanted more. A full
 * buffer means the reader is the slow side (a bandwidth cap, a slow disk): that time does not count.
 */
function watchBody(res: http.IncomingMessage, ms: number, url: string): void {
  const socket = res.socket;
  let seen = socket.bytesRead;
  let quietSince = Date.now();
  const tick = setInterval(() => {
    const now = Date.now();
    if (socket.bytesRead !== seen || res.readableLength >= res.readableHighWaterMark) {
      seen = socket.bytesRead;
      quietSince = now;
    } else if (now - quietSince >= ms) {
      res.destroy(timeoutError(TIMEOUT.body, url, ms));
    }
  }, Math.max(10, Math.min(1000, Math.floor(ms / 4))));
  tick.unref();
  const stop = (): void => clearInterval(tick);
  res.once('end', stop);
  res.once('close', stop);
  res.once('error', stop);
}
