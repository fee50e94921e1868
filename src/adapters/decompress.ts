// The decompressor the import pipes a stream through (`xz -dc`): one process per receive, its exit reported whole.
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

export interface DecompressExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The first 8 KiB of what it said on stderr, trimmed. */
  stderr: string;
  /** It could not be started (ENOENT, EACCES). */
  error?: Error;
}

/** One running decompression: compressed bytes in (a descriptor given at start, or `stdin`), raw bytes out. */
export interface Decompression {
  /** Null when the input was a descriptor. */
  stdin: Writable | null;
  stdout: Readable;
  /** Ends it at once (a bad chunk: nothing more of it may reach the receiver). */
  kill(): void;
  done: Promise<DecompressExit>;
}

export interface Decompressor {
  /** Starts decompressing `input` (an open descriptor), or what is written to `stdin` when 'pipe'. */
  start(input: number | 'pipe'): Decompression;
}

/** `xz -dc`, spawned directly (no shell); its stdout is handed on in the same tick, so nothing reads it but the receiver. */
export class XzCli implements Decompressor {
  constructor(private readonly binary = 'xz') {}

  start(input: number | 'pipe'): Decompression {
    const xz = spawn(this.binary, ['-dc'], { stdio: [input, 'pipe', 'pipe'] });
    const { stdin, stdout, stderr } = xz;
    if (!stdout || !stderr) throw new Error('spawn gave xz no stdout/stderr pipe');
    const done = new Promise<DecompressExit>((resolve) => {
      let said = '';
      let error: Error | undefined;
      stderr.on('data', (d: Buffer) => {
        if (said.length < 8192) said += d.toString();
      });
      xz.on('error', (err) => (error = err));
      xz.on('close', (code, signal) => resolve({ code, signal, stderr: said.trim(), ...(error ? { error } : {}) }));
    });
    return { stdin: input === 'pipe' ? stdin : null, stdout, kill: () => void xz.kill('SIGKILL'), done };
  }
}
