// Fleet simulation fixture: TLS, the release's signed manifest and delegation, the online key, server.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { makeThrowawayCa } from '../src/sandbox/tls.js';
import { generateKeyPair, writeSecretKeyFile } from '../src/trust/keys.js';
import { signPayload } from '../src/trust/sign.js';
import { signDelegation } from '../src/trust/delegation-sign.js';

export const SIM_HARDWARE = 'sim-board';
export const SIM_CHANNEL = 'stable';
export const SIM_RELEASE = 17;
/** 90% of the fleet on 16, 10% on 15: two diffs are built on demand. */
export const SIM_BASES: [number, number][] = [[16, 0.9], [15, 0.1]];
export const ADMIN_TOKEN = 'fleet-sim-token';

export interface SimFixture {
  caFile: string;
  configPath: string;
  port: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Writes everything `upgradectl serve` needs under `dir`, with `database` (a SQLite path or a postgresql:// URL). */
export async function buildSimFixture(dir: string, database: string, checkinIntervalSec: number): Promise<SimFixture> {
  const ca = await makeThrowawayCa(dir);
  const pub = join(dir, 'www');
  for (const d of ['manifests', 'streams', 'delegations']) mkdirSync(join(pub, d), { recursive: true });
  const offline = generateKeyPair();
  const online = generateKeyPair();
  // A release whose manifest lists the full stream only: every device asks for the diff from its base.
  const manifest = {
    schema: 1, version: SIM_RELEASE, hardware: [SIM_HARDWARE], channel: SIM_CHANNEL, created: new Date().toISOString(),
    streams: [{ from: null, urls: [`../streams/full-${SIM_RELEASE}.zfs.xz`], size: 1 << 30, sha256: 'c'.repeat(64), compression: 'xz' }],
  };
  const env = signPayload(Buffer.from(JSON.stringify(manifest)), [offline]);
  writeFileSync(join(pub, 'manifests', `${SIM_RELEASE}.json`), JSON.stringify(env));
  const delegation = signDelegation(env, SIM_RELEASE, {
    delegate: online, bases: { min: 1, max: SIM_RELEASE - 1 }, notAfter: new Date(Date.now() + 7 * 86_400_000).toISOString(), maxSize: 1 << 30, compression: 'xz',
  }, [offline]);
  writeFileSync(join(pub, 'delegations', `${SIM_RELEASE}.json`), JSON.stringify(delegation));
  writeSecretKeyFile(join(dir, 'online.key'), online);
  writeFileSync(join(dir, 'token'), `${ADMIN_TOKEN}\n`);
  writeFileSync(join(dir, 'server.key'), ca.key);
  writeFileSync(join(dir, 'server.pem'), ca.cert);
  const port = await freePort();
  const cfg = {
    listen: { host: '127.0.0.1', port }, tls: { certFile: 'server.pem', keyFile: 'server.key' }, publishDir: 'www', database, adminTokenFile: 'token',
    checkinIntervalSec, diffs: { dir: 'diffs', delegateKeyFile: 'online.key', compression: 'xz', concurrency: 1 },
  };
  const configPath = join(dir, 'server.json');
  writeFileSync(configPath, JSON.stringify(cfg, null, 2));
  return { caFile: ca.caFile, configPath, port };
}
