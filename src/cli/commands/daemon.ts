// `upgradectl daemon`: the systemd service's main process; stops cleanly on SIGTERM/SIGINT.
import type { Config } from '../../config.js';
import { thawGrubFilesystem, wireAgent } from '../../wiring.js';
import { Daemon } from '../../daemon/daemon.js';
import { waitForRunnerLock } from '../../daemon/lock.js';
import { createLogger } from '../../log.js';
import { systemdNotifier } from '../../systemd/notify.js';

export async function runDaemon(config: Config): Promise<number> {
  await thawGrubFilesystem(config);
  // The boot-time confirm starts alongside and may hold the lock through its health checks: wait for it, however long.
  const got = await waitForRunnerLock<never>(config.paths.stateDir, {
    timeoutMs: Number.POSITIVE_INFINITY,
    onWait: (err) => {
      systemdNotifier().status('waiting for the runner lock (a confirm is running)');
      createLogger({ level: config.logLevel }).info({ code: err.code, context: err.context }, 'daemon waits for the runner lock');
    },
  });
  if (!('release' in got)) return 1;
  const release = got.release;
  const daemon = new Daemon(wireAgent(config));
  await daemon.start();
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await daemon.stop();
  release();
  return 0;
}
