// e2fsck behind a small interface: the forced check that never writes, and the preen that replays a cut journal.
import { loadExeca } from './exec.js';

export interface FsckResult {
  /** null: e2fsck did not exit by itself (killed, not found). */
  exitCode: number | null;
  /** The last lines of its output, for the error and the journal. */
  output: string;
}

export interface ImageFsck {
  /** `e2fsck -fn`: 0 is clean; 4 (errors left) or 8 (could not check) is not. Never writes. */
  check(imagePath: string): Promise<FsckResult>;
  /** `e2fsck -p`: replays the journal and repairs what preening may; 0–2 is repaired or clean. */
  preen(imagePath: string): Promise<FsckResult>;
}

async function e2fsck(args: string[]): Promise<FsckResult> {
  const execa = await loadExeca();
  const r = await execa('e2fsck', args, { reject: false, all: true, env: { LC_ALL: 'C' } });
  return { exitCode: r.exitCode ?? null, output: String(r.all ?? '').trim().split('\n').slice(-20).join('\n') };
}

/** The real one: Debian's e2fsprogs. */
export class E2fsck implements ImageFsck {
  check(imagePath: string): Promise<FsckResult> {
    return e2fsck(['-fn', imagePath]);
  }

  preen(imagePath: string): Promise<FsckResult> {
    return e2fsck(['-p', imagePath]);
  }
}
