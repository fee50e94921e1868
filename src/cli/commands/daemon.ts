// `upgradectl daemon`: the systemd service's main process; stops cleanly on SIGTERM/SIGINT.
import type { Config } from '../../config.js';
import { withDevice, type WiringOptions } from '../../wiring.js';
import { Daemon } from '../../daemon/daemon.js';
import { createLogger } from '../../log.js';
import { systemdNotifier } from '../../systemd/notify.js';

export async function runDaemon(config: Config, wiring: WiringOptions = {}): Promise<number> {
  // The boot-time confirm starts alongside and may hold the lock through its health checks: wait for it, however long.
  const log = createLogger({ level: config.logLevel });
  const lock = {
    timeoutMs: Number.POSITIVE_INFINITY,
    onWait: (err: { code: string; context?: unknown }): void => {
      systemdNotifier().status('waiting for the runner lock (a confirm is running)');
      log.info({ code: err.code, context: err.context }, 'daemon waits for the runner lock');
    },
  };
  return withDevice(config, { thaw: true, lock }, async (device) => {
    const daemon = new Daemon(device);
    await daemon.start();
    await new Promise<void>((resolve) => {
      const stop = (): void => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await daemon.stop();
    return 0;
  }, { log, ...wiring });
}
