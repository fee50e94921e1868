// A file's identity (inode, size, mtime, ctime): any write, truncate, chmod or replacement changes it.
import { statSync } from 'node:fs';

export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
}

export function fileIdentity(path: string): FileIdentity {
  const st = statSync(path, { bigint: true });
  return { dev: Number(st.dev), ino: Number(st.ino), size: Number(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs) };
}

/** ctime cannot be set back by utimes, so a matching identity means nobody touched the file. */
export function sameIdentity(recorded: FileIdentity, path: string): boolean {
  let now: FileIdentity;
  try {
    now = fileIdentity(path);
  } catch {
    return false;
  }
  return (['dev', 'ino', 'size', 'mtimeNs', 'ctimeNs'] as const).every((k) => recorded[k] === now[k]);
}
