// Native journal entries (MESSAGE_ID and fields) for the catalog events: pino's JSON on stdout reaches journald as text only.
import { datagrams, type DatagramSender } from './datagram.js';

export type JournalFields = Record<string, string | number | boolean>;

/**
 * journald's native protocol: `KEY=value\n` per field, or for a value with a newline `KEY\n`, its length as a 64-bit
 * little-endian integer, the value and `\n`. Field names are upper case letters, digits and `_`, not starting with `_`.
 */
export function encodeJournalEntry(fields: JournalFields): Buffer {
  const parts: Buffer[] = [];
  for (const [rawKey, raw] of Object.entries(fields)) {
    const key = rawKey.toUpperCase().replace(/[^A-Z0-9_]/g, '_').replace(/^_+/, '');
    if (key === '') continue;
    const value = Buffer.from(String(raw));
    if (!value.includes(0x0a)) {
      parts.push(Buffer.from(`${key}=`), value, Buffer.from('\n'));
    } else {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(value.length));
      parts.push(Buffer.from(`${key}\n`), len, value, Buffer.from('\n'));
    }
  }
  return Buffer.concat(parts);
}

/**
 * Where native entries go: $UPGRADE_AGENT_JOURNAL_SOCKET (tests), else journald's socket when the process runs under
 * systemd with its output in the journal ($JOURNAL_STREAM set), else nowhere (a command run by hand).
 */
export function journalSocket(env: NodeJS.ProcessEnv = process.env): string | null {
  const override = env['UPGRADE_AGENT_JOURNAL_SOCKET'];
  if (override !== undefined && override !== '') return override;
  return env['JOURNAL_STREAM'] ? '/run/systemd/journal/socket' : null;
}

/** pino levels → syslog priorities (PRIORITY=). */
export function priorityOf(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

export function sendJournal(fields: JournalFields, env: NodeJS.ProcessEnv = process.env, sender: DatagramSender = datagrams): void {
  const socket = journalSocket(env);
  if (socket !== null) sender.send(socket, encodeJournalEntry(fields));
}
