// Free space of a filesystem (statfs): what a download and the check-in report ask before they write.
import { statfsSync } from 'node:fs';

export interface DiskSpace {
  /** Bytes an unprivileged writer could still use on the filesystem holding `path`; 0 when it cannot be read. */
  freeBytes(path: string): number;
}

export const statfsSpace: DiskSpace = {
  freeBytes(path: string): number {
    try {
      const s = statfsSync(path);
      return Number(s.bavail) * Number(s.bsize);
    } catch {
      return 0;
    }
  },
};
