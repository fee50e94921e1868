// The demo's processes: upgradectl as the device runs it (the sandbox power cycle) and the publisher's and operator's upgradectl.
import { execa } from 'execa';
import { formatLogLine } from './format.js';

/** The device's upgradectl: the same verbs, with the sandbox's simulated power cycle as rebooter. */
export const DEVICE_CLI = new URL('../sandbox/upgradectl.js', import.meta.url).pathname;
/** The production binary: the publisher's verbs, `serve`, `fleet ...`. */
export const CLI = new URL('../cli/upgradectl.js', import.meta.url).pathname;

/** A device command's deadline (the longest, the first check-in, waits out the server's diff build). */
const DEVICE_DEADLINE_MS = 180_000;
const TOOL_DEADLINE_MS = 120_000;

export const say = (s: string): void => void process.stdout.write(`${s}\n`);

/** Calls `each` with every complete line of a stream, and the rest at its end. */
export function eachLine(stream: NodeJS.ReadableStream | null | undefined, each: (line: string) => void): void {
  let rest = '';
  stream?.on('data', (chunk: Buffer) => {
    rest += chunk.toString('utf8');
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) each(line);
  });
  stream?.on('end', () => {
    if (rest) each(rest);
    rest = '';
  });
}

/** Runs the device's upgradectl as a separate process, turning its JSON log lines into readable progress; its exit code. */
export async function deviceCli(args: string[], configPath: string): Promise<number> {
  const child = execa('node', [DEVICE_CLI, ...args, '--config', configPath], {
    reject: false, buffer: false, stdout: 'pipe', stderr: 'inherit', timeout: DEVICE_DEADLINE_MS,
  });
  eachLine(child.stdout, (line) => say(formatLogLine(line, 'agent')));
  const r = await child;
  if (r.timedOut) throw new Error(`upgradectl ${args.join(' ')} did not end within ${DEVICE_DEADLINE_MS / 1000}s`);
  return r.exitCode ?? 1;
}

/** Runs the production upgradectl (publisher, operator) and returns its stdout; a failure throws with its stderr. */
export async function tool(args: string[]): Promise<string> {
  const r = await execa('node', [CLI, ...args], { reject: false, timeout: TOOL_DEADLINE_MS });
  if (r.exitCode !== 0) throw new Error(`upgradectl ${args[0] ?? ''} exited ${String(r.exitCode)}${r.timedOut ? ' (deadline)' : ''}: ${r.stderr}`);
  return r.stdout;
}
