// Structured, synchronous logging (pino to fd 1/2): the agent reboots on purpose, so nothing may sit in a buffer.
import { pino, destination, type Logger, type LogFn } from 'pino';
import { messageId } from './systemd/catalog.js';
import { priorityOf, sendJournal, type JournalFields } from './systemd/journal.js';

export type { Logger };

/**
 * The catalog's events (src/systemd/catalog.ts) get, under systemd, a native journal entry of their own (MESSAGE, MESSAGE_ID, PRIORITY and the line's scalar fields, upper-cased): journald keeps
 * pino's stdout lines as text, so only that entry is searchable by field (`journalctl MESSAGE_ID=…`) and explained by
 * `journalctl -x`.
 */
function catalogHook(this: Logger, args: Parameters<LogFn>, method: LogFn, level: number): void {
  const [first, second] = args as unknown[];
  const obj = typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : null;
  const msg = obj === null ? first : second;
  const id = typeof msg === 'string' ? messageId(msg) : undefined;
  if (id === undefined) {
    method.apply(this, args);
    return;
  }
  const fields: JournalFields = {};
  for (const [k, v] of Object.entries(obj ?? {})) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields[`UA_${k}`] = v;
  }
  sendJournal({ MESSAGE: msg as string, MESSAGE_ID: id, PRIORITY: priorityOf(level), SYSLOG_IDENTIFIER: 'upgrade-agent', ...fields });
  // The JSON line stays as it was (the QEMU suite matches its field order).
  method.apply(this, args);
}

export function createLogger(opts: { level?: string; name?: string; fd?: number } = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'upgrade-agent',
      level: opts.level ?? process.env['UPGRADE_AGENT_LOG_LEVEL'] ?? 'info',
      hooks: { logMethod: catalogHook },
    },
    destination({ fd: opts.fd ?? 1, sync: true }),
  );
}

/** A logger that drops everything: for library use and tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
