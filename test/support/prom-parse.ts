// A strict little parser of the Prometheus text format, for asserting on what the metrics textfile says.

export interface PromFamily {
  help: string;
  type: string;
  samples: { labels: Record<string, string>; value: number }[];
}

const unescapeLabel = (v: string): string => v.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));

/** Parses HELP/TYPE/sample lines; throws on a sample before its family's HELP and TYPE, or on a malformed line. */
export function parseProm(text: string): Map<string, PromFamily> {
  const out = new Map<string, PromFamily>();
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      const f = out.get(name) ?? { help: '', type: '', samples: [] };
      if (kind === 'HELP') f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      else f.type = rest;
      out.set(name, f);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`malformed line: ${JSON.stringify(line)}`);
    const [, name, labelText, value] = m as unknown as [string, string, string | undefined, string];
    const f = out.get(name);
    if (!f?.help || !f.type) throw new Error(`sample of ${name} before its HELP and TYPE`);
    const labels: Record<string, string> = {};
    for (const l of (labelText ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)) labels[l[1] as string] = unescapeLabel(l[2] as string);
    f.samples.push({ labels, value: Number(value) });
  }
  return out;
}
