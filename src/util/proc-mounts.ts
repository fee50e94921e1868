// The kernel's mount table (/proc/self/mounts) as data: one parser for every step that asks what is mounted where.
import { readFileSync } from 'node:fs';

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
}

/** Parses /proc/mounts text; space, tab, newline and backslash come octal-escaped and are decoded. Pure. */
export function parseMounts(text: string): MountEntry[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' '))
    .map(([source = '', target = '', fstype = '']) => ({ source: unescape(source), target: unescape(target), fstype }));
}

/** The current mounts of this process's namespace. */
export function readMounts(procMounts = '/proc/self/mounts'): MountEntry[] {
  return parseMounts(readFileSync(procMounts, 'utf8'));
}
