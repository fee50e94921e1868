// `upgradectl daemon`: the systemd service's main process; stops cleanly on SIGTERM/SIGINT.
import type { Config } from '../../config.js';
import { wireAgent } from '../../wiring.js';
import { Daemon } from '../../daemon/daemon.js';
import { acquireRunnerLock } from '../../daemon/lock.js';

export async function runDaemon(config: Config): Promise<number> {
  const release = acquireRunnerLock(config.paths.stateDir);
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
