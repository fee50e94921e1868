// `upgradectl serve --config server.json`: runs the fleet server until SIGTERM/SIGINT, then closes it cleanly.
import { loadServeConfig } from '../../fleet/serve-config.js';
import { openServe } from '../../fleet/serve-main.js';
import { createLogger } from '../../log.js';
import { UsageError } from '../../errors.js';

/** How long a clean stop may take before the process gives up waiting (open builds are aborted by the exit). */
const CLOSE_DEADLINE_MS = 30_000;

export async function runServe(configPath: string | undefined): Promise<number> {
  if (configPath === undefined) throw new UsageError('E_USAGE', 'serve needs --config FILE (the server.json; docs/fleet-server.md)');
  const cfg = loadServeConfig(configPath);
  const log = createLogger({ name: 'upgrade-fleet-server' });
  // Handlers first: a signal that arrives while starting (or right after the "listening" line) still stops it cleanly.
  const signalled = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const srv = await openServe(cfg, log);
  log.info({ url: srv.url, host: cfg.listen.host, port: srv.port, publishDir: cfg.publishDir, database: cfg.database, admin: cfg.adminTokenFile !== null, builds: cfg.diffs.dataset !== null }, 'fleet server listening');
  const signal = await signalled;
  log.info({ signal }, 'fleet server stopping');
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), CLOSE_DEADLINE_MS);
  });
  const how = await Promise.race([srv.close().then(() => 'closed' as const), deadline]);
  clearTimeout(timer);
  if (how === 'timeout') {
    log.error({ deadlineMs: CLOSE_DEADLINE_MS }, 'fleet server did not close in time');
    return 1;
  }
  log.info({}, 'fleet server stopped');
  return 0;
}
