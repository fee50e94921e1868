// A test listener on unix datagram sockets (python3: Node has none), yielding every datagram received, in order.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const LISTENER = `
import json, select, socket, sys
socks = []
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(p)
    socks.append((p, s))
print("listening", flush=True)
while True:
    ready, _, _ = select.select([s for _, s in socks], [], [])
    for p, s in socks:
        if s in ready:
            print(json.dumps({"socket": p, "hex": s.recv(262144).hex()}), flush=True)
`;

export interface Datagram {
  socket: string;
  data: Buffer;
}

export interface DatagramListener {
  received: Datagram[];
  /** Resolves with the datagrams once `done(received)` holds; rejects after `timeoutMs`. */
  until(done: (received: Datagram[]) => boolean, timeoutMs: number): Promise<Datagram[]>;
  close(): void;
}

export async function listenDatagrams(paths: string[]): Promise<DatagramListener> {
  const child: ChildProcess = spawn('python3', ['-c', LISTENER, ...paths], { stdio: ['ignore', 'pipe', 'inherit'] });
  const received: Datagram[] = [];
  const waiters = new Set<() => void>();
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line === 'listening') return resolve();
      const { socket, hex } = JSON.parse(line) as { socket: string; hex: string };
      received.push({ socket, data: Buffer.from(hex, 'hex') });
      for (const w of waiters) w();
    });
  });
  return {
    received,
    until(done, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!done(received)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(received);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`datagrams not as expected after ${timeoutMs} ms: ${JSON.stringify(received.map((d) => d.data.toString()))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => { child.kill(); },
  };
}

/** A native journal entry's fields (only the `KEY=value` lines: the agent's entries carry no newlines). */
export function journalFields(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of data.toString().split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
