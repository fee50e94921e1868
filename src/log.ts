// Structured, synchronous logging (pino to fd 1/2): the agent reboots on purpose, so nothing may sit in a buffer.
import { pino, destination, type Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { level?: string; name?: string; fd?: number } = {}): Logger {
  return pino(
    { name: opts.name ?? 'upgrade-agent', level: opts.level ?? process.env['UPGRADE_AGENT_LOG_LEVEL'] ?? 'info' },
    destination({ fd: opts.fd ?? 1, sync: true }),
  );
}

/** A logger that drops everything: for library use and tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
