// Makes freshly written Grub files visible to Grub itself: Grub reads ext4/xfs without replaying their journal.
import { realpathSync } from 'node:fs';
import { execa } from 'execa';
import { BootError } from '../errors.js';
import { readMounts, type MountEntry } from '../util/proc-mounts.js';

/**
 * After fsync and rename, a new grub.cfg or grubenv is safe for Linux (the journal replays it) but its directory entry
 * may sit in the journal only, for up to ~30 s: Grub then reads the file from before the rename (seen under QEMU:
 * the armed trial was booted one boot late). A freeze flushes the journal to the filesystem's home blocks.
 */
export type FlushPlan =
  | { kind: 'freeze'; mountpoint: string; fstype: string }
  /** Not a journal Grub ignores (vfat, a sandbox's tmpfs): fsync was already enough. */
  | { kind: 'not-needed'; mountpoint: string; fstype: string }
  /** The mount holding this process's `/`: freezing it would stall the agent itself (dracut and grubby skip it too). */
  | { kind: 'skip-root'; mountpoint: string; fstype: string };

const JOURNALED = new Set(['ext3', 'ext4', 'xfs']);

/** The mount that holds `dir` (longest matching target; the last of stacked mounts) and what to do about it. Pure. */
export function planFlush(mounts: readonly MountEntry[], dir: string): FlushPlan {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside = m.target === '/' || dir === m.target || dir.startsWith(`${m.target}/`);
    if (inside && (!best || m.target.length >= best.target.length)) best = m;
  }
  const mountpoint = best?.target ?? '/';
  const fstype = best?.fstype ?? 'unknown';
  if (!JOURNALED.has(fstype)) return { kind: 'not-needed', mountpoint, fstype };
  if (mountpoint === '/') return { kind: 'skip-root', mountpoint, fstype };
  return { kind: 'freeze', mountpoint, fstype };
}

export interface BootFilesFlusher {
  /** Flushes the filesystem holding `dir` so a reader that ignores the journal sees what was written. */
  flush(dir: string): Promise<FlushPlan & { ms: number }>;
  /** Thaws that filesystem if a cut-short flush left it frozen (no-op otherwise); called at every start. */
  thawIfFrozen(dir: string): Promise<void>;
}

/**
 * The real one: fsfreeze(8) --freeze then --unfreeze. Both run in one shell child, so the thaw happens even if the
 * agent is killed in between (a process's children outlive it); only killing that shell too could leave the
 * filesystem frozen, which the next start undoes before it writes anything.
 */
export class FsFreezeFlusher implements BootFilesFlusher {
  constructor(
    private readonly mounts: () => MountEntry[] = () => readMounts(),
    private readonly fsfreeze = 'fsfreeze',
  ) {}

  private plan(dir: string): FlushPlan {
    return planFlush(this.mounts(), realpathSync(dir));
  }

  async flush(dir: string): Promise<FlushPlan & { ms: number }> {
    const plan = this.plan(dir);
    const started = Date.now();
    if (plan.kind === 'freeze') {
      const script = '"$0" --freeze "$1" || exit $?; "$0" --unfreeze "$1"';
      const r = await execa('sh', ['-c', script, this.fsfreeze, plan.mountpoint], { reject: false, all: true });
      if (r.exitCode !== 0) {
        throw new BootError('E_BOOT_FLUSH', `cannot flush ${plan.mountpoint} for Grub (fsfreeze exited ${r.exitCode ?? r.signal}): ${r.all ?? ''}`.trim(), {
          context: { dir, ...plan },
        });
      }
    }
    return { ...plan, ms: Date.now() - started };
  }

  async thawIfFrozen(dir: string): Promise<void> {
    const plan = this.plan(dir);
    // EINVAL (not frozen) is the normal answer: the result is not looked at.
    if (plan.kind === 'freeze') await execa(this.fsfreeze, ['--unfreeze', plan.mountpoint], { reject: false, timeout: 60_000 });
  }
}
