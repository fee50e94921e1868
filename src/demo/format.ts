// Turns the agent's JSON log lines into one readable line each for the demo; other output passes through.

export function formatAgentLine(line: string): string {
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
  return `   [agent] ${o['msg']}${fields ? `  ${fields}` : ''}`;
}
