// Turns the agent's and the fleet server's JSON log lines into one readable line each for the demo; other output passes through.

/** `   [who] msg  key=value ...` for a pino line; anything else unchanged. */
export function formatLogLine(line: string, who = 'agent'): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof o !== 'object' || o === null || typeof o['msg'] !== 'string') return line;
  const skip = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);
  const fields = Object.entries(o)
    .filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  return `   [${who}] ${o['msg']}${fields ? `  ${fields}` : ''}`;
}

/** The device's view: the agent's log lines. */
export const formatAgentLine = (line: string): string => formatLogLine(line, 'agent');
