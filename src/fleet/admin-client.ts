// The operator's side of the fleet server's admin API (bearer token over HTTPS), for `upgradectl fleet ...`.
import { readFileSync } from 'node:fs';
import { createDispatcher, fetchCapped } from '../adapters/http.js';
import { ConfigError, UpgradeError } from '../errors.js';

export interface AdminTarget {
  /** The server's base URL, e.g. https://fleet.example:8443 */
  server: string;
  tokenFile: string;
  /** PEM of the server's CA; null: the system roots. */
  caFile: string | null;
  /** The whole exchange's deadline (connect, answer, body). */
  timeoutMs: number;
}

/** Fleet status of a large fleet lists failing and silent devices one by one: generous, still bounded. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

function readToken(file: string): string {
  let t: string;
  try {
    t = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError('E_CONFIG_READ', `cannot read the token file ${file}: ${(err as Error).message}`, { cause: err, context: { path: file } });
  }
  if (t === '') throw new ConfigError('E_CONFIG_INVALID', `the token file ${file} is empty`, { context: { path: file } });
  return t;
}

/**
 * One admin request: GET /v1/admin/status or POST /v1/admin/<op> with a JSON body. Network faults keep their
 * E_HTTP_* codes; a refused token is E_FLEET_AUTH, any other refusal E_FLEET_REFUSED with the server's code and message.
 */
export async function adminRequest(t: AdminTarget, op: string, body?: Record<string, unknown>): Promise<unknown> {
  const token = readToken(t.tokenFile);
  let base: URL;
  try {
    base = new URL(t.server);
  } catch (err) {
    throw new ConfigError('E_CONFIG_INVALID', `--server ${t.server} is not a URL`, { cause: err });
  }
  if (base.protocol !== 'https:') throw new ConfigError('E_CONFIG_INVALID', `--server ${t.server}: the admin API is HTTPS only (the token must not cross in clear)`);
  const url = new URL(`v1/admin/${op}`, base.href.endsWith('/') ? base.href : `${base.href}/`).href;
  const dispatcher = createDispatcher({ caFile: t.caFile, headersTimeoutMs: t.timeoutMs, bodyTimeoutMs: t.timeoutMs, connectTimeoutMs: t.timeoutMs });
  try {
    const res = await fetchCapped(url, {
      dispatcher, maxBytes: MAX_ANSWER_BYTES, limits: { deadlineMs: t.timeoutMs, minBytesPerSec: 0, slowWindowMs: 10_000, maxRedirects: 0 },
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    let answer: unknown;
    try {
      answer = JSON.parse(res.body.toString('utf8'));
    } catch {
      answer = null;
    }
    const said = answer as { code?: unknown; message?: unknown } | null;
    const detail = typeof said?.code === 'string' ? `${said.code}: ${String(said.message)}` : `HTTP ${res.status}`;
    const context = { url, status: res.status, serverCode: said?.code ?? null };
    if (res.status === 401 || res.status === 403) throw new UpgradeError('E_FLEET_AUTH', `${url}: the server refused the token (${detail})`, { context });
    if (res.status === 404) throw new UpgradeError('E_FLEET_AUTH', `${url}: no admin API there (${detail})`, { context });
    if (res.status < 200 || res.status > 299) throw new UpgradeError('E_FLEET_REFUSED', `${url}: the server refused ${op}: ${detail}`, { context });
    if (answer === null || typeof answer !== 'object') throw new UpgradeError('E_FLEET_REFUSED', `${url}: the answer is not a JSON object`, { context });
    return answer;
  } finally {
    await dispatcher.close();
  }
}
