// One boot of the appliance: a fresh QEMU (TCG, -no-reboot) that ends when the guest powers off, reboots or is killed.
import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { execa, type ResultPromise } from 'execa';

export interface Marker {
  kind: string;
  data: unknown;
  /** Milliseconds since this QEMU started, when the harness read the line. */
  atMs: number;
}

export type BootEnd = 'exited' | 'killed' | 'timeout';

export interface BootResult {
  end: BootEnd;
  markers: Marker[];
  /** The guest console (ttyS0): kernel, initramfs and systemd messages. */
  console: string;
  /** The kernel command line Grub booted, from the console ("Command line: ..."); null if no kernel started. */
  cmdline: string | null;
  startedAt: number;
  endedAt: number;
  killedOn: Marker | null;
}

export interface BootOptions {
  disks: string[];
  consoleLog: string;
  markerLog: string;
  /** Hard limit for the whole boot; the VM is killed (a hard reset) when it is reached. */
  limitSec: number;
  /**
   * Console lines that become markers of kind 'console' (data: the name) when first seen. The agent's own log lines
   * reach the console through the journal as they are written, so a short step is caught (to time it, or to cut the
   * power on it) where polling the state database could miss it.
   */
  consoleMarks?: Record<string, RegExp>;
  /** Cut the power (kill QEMU) as soon as a marker matches. */
  killWhen?: (m: Marker) => boolean;
  killDelayMs?: number;
}

export function qemuArgs(o: Pick<BootOptions, 'disks' | 'consoleLog' | 'markerLog'>): string[] {
  const args = [
    '-machine', 'q35,accel=tcg', '-cpu', 'max', '-smp', '2', '-m', '1024',
    '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none', '-nic', 'none', '-no-reboot',
    '-serial', `file:${o.consoleLog}`, '-serial', `file:${o.markerLog}`,
  ];
  // cache=unsafe: the guest's flushes are not forwarded, but what QEMU wrote survives its being killed (host page cache).
  for (const d of o.disks) args.push('-drive', `file=${d},format=raw,if=virtio,cache=unsafe`);
  return args;
}

export function parseMarkers(text: string, atMs: number): Marker[] {
  const out: Marker[] = [];
  for (const line of text.split('\n')) {
    const m = /^E2E (\S+) (.*)$/.exec(line.replace(/\r$/, ''));
    if (!m) continue;
    let data: unknown = m[2];
    try {
      data = JSON.parse(m[2] ?? 'null');
    } catch {
      // keep the raw text
    }
    out.push({ kind: m[1] ?? '', data, atMs });
  }
  return out;
}

export function cmdlineFromConsole(text: string): string | null {
  const m = /Command line: (.*)/.exec(text);
  return m?.[1]?.trim() ?? null;
}

/** The bytes of a file from `offset` to its current end. */
function readFrom(path: string, offset: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const chunks: Buffer[] = [];
    for (let pos = offset; ;) {
      const buf = Buffer.alloc(1 << 20);
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      pos += n;
    }
    return Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}

export async function boot(o: BootOptions): Promise<BootResult> {
  rmSync(o.consoleLog, { force: true });
  rmSync(o.markerLog, { force: true });
  const startedAt = Date.now();
  const child: ResultPromise = execa('qemu-system-x86_64', qemuArgs(o), { reject: false, stdin: 'ignore', all: true });
  const markers: Marker[] = [];
  let consumed = 0;
  let consoleRead = 0;
  let consoleTail = '';
  const consoleMarked = new Set<string>();
  let killedOn: Marker | null = null;
  let end: BootEnd = 'exited';
  let exited = false;
  void child.then(() => {
    exited = true;
  });

  const take = (m: Marker): void => {
    markers.push(m);
    if (killedOn === null && o.killWhen?.(m)) killedOn = m;
  };
  const readNew = (): void => {
    if (!existsSync(o.markerLog)) return;
    const text = readFileSync(o.markerLog, 'utf8');
    const lastNl = text.lastIndexOf('\n');
    if (lastNl < consumed) return;
    const fresh = parseMarkers(text.slice(consumed, lastNl + 1), Date.now() - startedAt);
    consumed = lastNl + 1;
    fresh.forEach(take);
  };
  const readConsole = (): void => {
    const wanted = Object.entries(o.consoleMarks ?? {}).filter(([name]) => !consoleMarked.has(name));
    if (wanted.length === 0 || !existsSync(o.consoleLog)) return;
    const fresh = readFrom(o.consoleLog, consoleRead);
    consoleRead += fresh.length;
    // Only whole lines are matched; the unfinished last one waits for the next read.
    const text = consoleTail + fresh.toString('latin1');
    const lastNl = text.lastIndexOf('\n');
    consoleTail = text.slice(lastNl + 1);
    const lines = text.slice(0, lastNl + 1);
    for (const [name, re] of wanted) {
      if (!re.test(lines)) continue;
      consoleMarked.add(name);
      take({ kind: 'console', data: name, atMs: Date.now() - startedAt });
    }
  };

  while (!exited) {
    await new Promise((r) => setTimeout(r, 100));
    readNew();
    readConsole();
    if (killedOn !== null) {
      if (o.killDelayMs) await new Promise((r) => setTimeout(r, o.killDelayMs));
      end = 'killed';
      child.kill('SIGKILL');
      break;
    }
    if (Date.now() - startedAt > o.limitSec * 1000) {
      end = 'timeout';
      child.kill('SIGKILL');
      break;
    }
  }
  const r = await child;
  readNew();
  const console = existsSync(o.consoleLog) ? readFileSync(o.consoleLog, 'utf8') : '';
  if (end === 'exited' && r.exitCode !== 0) throw new Error(`qemu exited ${r.exitCode}: ${r.all}`);
  return { end, markers, console, cmdline: cmdlineFromConsole(console), startedAt, endedAt: Date.now(), killedOn };
}
