// Makes freshly written Grub files visible to Grub itself: Grub reads ext4/xfs without replaying their journal.
import { realpathSync } from 'node:fs';
import { loadExeca } from './exec.js';
import { BootError } from '../errors.js';
import { readMounts, type MountEntry } from '../util/proc-mounts.js';

/**
 * After fsync and rename, a new grub.cfg or grubenv is safe for Linux (the journal replays it) but its directory entry
 * may sit in the journal only, for up to ~30 s: Grub then reads the file from before the rename (seen under QEMU:
 * the armed trial was booted one boot late). Flushing writes the journal back into the filesystem's home blocks.
 */
export type FlushPlan =
  | { kind: 'flush'; mountpoint: string; fstype: string }
  /** Not a journal Grub ignores (vfat, a sandbox's tmpfs): fsync was already enough. */
  | { kind: 'not-needed'; mountpoint: string; fstype: string }
  /** The mount holding this process's `/`: a freeze there would stall the agent itself (dracut and grubby skip it too). */
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
  return { kind: 'flush', mountpoint, fstype };
}

export interface BootFilesFlusher {
  /** Flushes the filesystem holding `dir` so a reader that ignores the journal sees what was written. */
  flush(dir: string): Promise<FlushPlan & { method?: FlushMethod; ms: number }>;
  /** Thaws that filesystem if a cut-short freeze left it frozen (no-op otherwise); called at every start. */
  thawIfFrozen(dir: string): Promise<void>;
}

/**
 * checkpoint: EXT4_IOC_CHECKPOINT (Linux >= 5.13), nothing frozen; freeze: FIFREEZE then FITHAW (xfs, older kernels);
 * none: an ext4 without a journal (nothing to write back).
 */
export type FlushMethod = 'checkpoint' | 'freeze' | 'none';
const METHODS = new Set<string>(['checkpoint', 'freeze', 'none']);

/**
 * Both ioctls from one short-lived process with no exec or file I/O between them: a freeze stalls writes to the
 * running image file (it lives on this filesystem), and a second process started while frozen could itself wait on
 * that image. Perl, because Node has no ioctl and perl-base is Essential in Debian.
 */
const IOCTL_SCRIPT = `
use strict; use Fcntl;
my ($dir, $mode) = @ARGV;
sysopen(my $fh, $dir, O_RDONLY) or die "open $dir: $!\n";
sub thaw { ioctl($fh, 0xC0045878, 0) or $!{EINVAL} or die "FITHAW: $!\n"; }
if ($mode eq 'thaw') { thaw(); exit 0; }
if ($mode eq 'checkpoint') {
  my $flags = pack('L', 0);
  if (ioctl($fh, 0x4004662B, $flags)) { print "checkpoint\n"; exit 0; }
  if ($!{ENODEV}) { print "none\n"; exit 0; }
  die "EXT4_IOC_CHECKPOINT: $!\n" unless $!{ENOTTY} || $!{EINVAL} || $!{EOPNOTSUPP};
}
# A stop request must not land between the two: FIFREEZE's own sync can take seconds.
$SIG{$_} = 'IGNORE' for qw(TERM INT HUP QUIT);
ioctl($fh, 0xC0045877, 0) or die "FIFREEZE: $!\n";
thaw();
print "freeze\n";
`;

/** The real one: the ioctls above on the mountpoint; ext4 is checkpointed when the kernel can, else frozen and thawed. */
export class IoctlBootFlusher implements BootFilesFlusher {
  constructor(private readonly opts: { mounts?: () => MountEntry[]; perl?: string; method?: 'auto' | 'freeze' } = {}) {}

  private plan(dir: string): FlushPlan {
    return planFlush((this.opts.mounts ?? readMounts)(), realpathSync(dir));
  }

  private async ioctl(mountpoint: string, mode: 'checkpoint' | 'freeze' | 'thaw') {
    const execa = await loadExeca();
    // No timeout but for the thaw: a kill that lands while FIFREEZE is in the kernel would leave the filesystem frozen.
    // cleanup: false, so our own exit does not signal it either.
    return execa(this.opts.perl ?? 'perl', ['-e', IOCTL_SCRIPT, mountpoint, mode], {
      reject: false, all: true, cleanup: false, ...(mode === 'thaw' ? { timeout: 60_000 } : {}),
    });
  }

  async flush(dir: string): Promise<FlushPlan & { method?: FlushMethod; ms: number }> {
    const plan = this.plan(dir);
    const started = Date.now();
    if (plan.kind !== 'flush') return { ...plan, ms: 0 };
    const mode = plan.fstype !== 'xfs' && this.opts.method !== 'freeze' ? 'checkpoint' : 'freeze';
    const r = await this.ioctl(plan.mountpoint, mode);
    const method = r.stdout.trim();
    if (r.exitCode !== 0 || !METHODS.has(method)) {
      // Whatever failed, nothing may stay frozen: the store the caller records this in lives on an image on it.
      await this.ioctl(plan.mountpoint, 'thaw');
      throw new BootError('E_BOOT_FLUSH', `cannot flush ${plan.mountpoint} for Grub (${r.exitCode ?? r.signal}): ${r.all ?? ''}`.trim(), {
        context: { dir, ...plan },
      });
    }
    return { ...plan, method: method as FlushMethod, ms: Date.now() - started };
  }

  async thawIfFrozen(dir: string): Promise<void> {
    const plan = this.plan(dir);
    if (plan.kind === 'flush') await this.ioctl(plan.mountpoint, 'thaw');
  }
}
