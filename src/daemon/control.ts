// Daemon control: HTTP/JSON over a root-only unix socket (server side and the CLI's client side).
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { UpgradeError } from '../errors.js';

export type Handler = (body: Record<string, unknown>) => Promise<unknown>;

export function startControlServer(socketPath: string, routes: Record<string, Handler>): Promise<Server> {
  // A stale socket from a crashed daemon would make listen fail with EADDRINUSE.
  if (existsSync(socketPath)) unlinkSync(socketPath);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 64 * 1024) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      const route = routes[`${req.method} ${req.url}`];
      const reply = (status: number, obj: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      if (!route) return reply(404, { error: { code: 'E_DAEMON', message: `no route ${req.method} ${req.url}` } });
      let body: Record<string, unknown> = {};
      try {
        if (chunks.length) body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return reply(400, { error: { code: 'E_DAEMON', message: 'body is not JSON' } });
      }
      route(body).then(
        (out) => reply(200, out ?? {}),
        (err: unknown) => reply(500, { error: err instanceof UpgradeError ? err.toJSON() : { code: 'E_INTERNAL', message: String(err) } }),
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      chmodSync(socketPath, 0o600);
      resolve(server);
    });
  });
}

/** Calls the daemon; E_DAEMON when it is not there or answers with an error (the error's own code is kept). */
export function callDaemon(socketPath: string, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 600_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { 'content-type': 'application/json' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch (err) {
          return reject(new UpgradeError('E_DAEMON', 'daemon answered with non-JSON', { cause: err }));
        }
        const e = (parsed as { error?: { code?: string; message?: string } }).error;
        if (res.statusCode !== 200 && e) {
          return reject(new UpgradeError((e.code ?? 'E_DAEMON') as 'E_DAEMON', e.message ?? 'daemon error', { context: { fromDaemon: true } }));
        }
        resolve(parsed);
      });
    });
    req.on('timeout', () => req.destroy(new Error('daemon did not answer in time')));
    req.on('error', (err) => reject(new UpgradeError('E_DAEMON', `daemon not reachable at ${socketPath}: ${err.message}`, { cause: err })));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

export async function daemonRunning(socketPath: string): Promise<boolean> {
  if (!existsSync(socketPath)) return false;
  try {
    await callDaemon(socketPath, 'GET', '/ping', undefined, 2000);
    return true;
  } catch {
    return false;
  }
}
