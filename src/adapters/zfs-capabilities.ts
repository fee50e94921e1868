// What the installed ZFS supports, read once from its own usage text (zfs-fuse 0.7 vs OpenZFS), never guessed per call.
import { existsSync } from 'node:fs';

export interface ZfsCapabilities {
  /** `zfs recv -s` and `zfs send -t <token>`: an interrupted receive can be resumed (OpenZFS ≥ 0.7). */
  resumableReceive: boolean;
  /** `zfs recv -u`: the received file system is not mounted. */
  receiveNoMount: boolean;
  /** `zfs recv -o property=value`: properties set by the receive itself. */
  receiveProps: boolean;
  /** `zfs list -p`: exact numbers in listings (zfs-fuse has `get -p` only). */
  parseableList: boolean;
  /** `zfs set a=1 b=2 NAME`: several properties in one call (zfs-fuse: one per call). */
  multiSet: boolean;
  /** Volumes with device nodes under /dev/zvol (needs the kernel module; zfs-fuse has none). */
  zvols: boolean;
}

/** The usage lines of one subcommand (`receive`, `send`, …), continuation lines included. */
function usageOf(usage: string, command: string): string[] {
  const lines = usage.split('\n');
  const out: string[] = [];
  let inside = false;
  for (const line of lines) {
    const m = /^\t(\S+)/.exec(line);
    if (m) inside = m[1] === command;
    else if (!/^\t\s/.test(line)) inside = false;
    if (inside) out.push(line.trim());
  }
  return out;
}

/** Single-letter flags a subcommand's usage offers: the letters of every `[-abc]` group and every `-x` token. */
function flagsOf(lines: string[]): Set<string> {
  const flags = new Set<string>();
  for (const line of lines) {
    for (const m of line.matchAll(/(?:^|[\s[|])-([A-Za-z]+)/g)) for (const c of m[1] ?? '') flags.add(c);
  }
  return flags;
}

/**
 * Reads the capabilities from `zfs`'s usage text (what it prints when run without a command) and whether the
 * kernel's ZFS control device exists. Pure, so the same decision is testable against both implementations' texts.
 */
export function parseCapabilities(usage: string, kernelModule: boolean): ZfsCapabilities {
  const recv = usageOf(usage, 'receive');
  const send = usageOf(usage, 'send');
  const list = usageOf(usage, 'list');
  const set = usageOf(usage, 'set');
  const recvFlags = flagsOf(recv);
  return {
    resumableReceive: recvFlags.has('s') && send.some((l) => /\s-t\s/.test(l)),
    receiveNoMount: recvFlags.has('u'),
    receiveProps: recv.some((l) => /\[-o\s/.test(l)),
    parseableList: flagsOf(list).has('p'),
    multiSet: set.some((l) => /<property=value>\s*\.\.\./.test(l)),
    zvols: kernelModule,
  };
}

/** OpenZFS's kernel module creates /dev/zfs; zfs-fuse talks over a socket and has no zvols. */
export const hasKernelModule = (): boolean => existsSync('/dev/zfs');
