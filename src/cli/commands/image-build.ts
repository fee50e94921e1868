// `upgradectl image build`: its flags to options, the real adapters wired, and the crash hook of the crash tests.
import { flagList, flagString, requireFlag, type ParsedArgs } from '../args.js';
import { UsageError } from '../../errors.js';
import { ZfsCli } from '../../adapters/zfs.js';
import { LoopMounter } from '../../adapters/image-mount.js';
import { E2fsck } from '../../adapters/fsck.js';
import { createLogger } from '../../log.js';
import { buildImage, type BuildOptions } from '../../publish/build/image-build.js';
import { RsyncTreeSync } from '../../publish/build/tree-sync.js';
import { RealImageTools } from '../../publish/build/image-tools.js';
import { BUILD_CRASH_POINTS, type BuildCrashPoint } from '../../publish/build/build-state.js';

export const DEFAULT_WORK_DIR = '/var/tmp/upgradectl-build';

function wholeNumber(args: ParsedArgs, name: string): number | undefined {
  const v = flagString(args, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) === 0) throw new UsageError('E_USAGE', `--${name} must be a whole number above 0`);
  return Number(v);
}

export function imageBuildOptions(args: ParsedArgs): BuildOptions {
  const version = wholeNumber(args, 'version');
  if (version === undefined) throw new UsageError('E_USAGE', '--version is required');
  const sizeMiB = wholeNumber(args, 'size');
  return {
    dataset: requireFlag(args, 'dataset'),
    version,
    tree: requireFlag(args, 'from-tree'),
    imageFile: flagString(args, 'image-file') ?? 'root.img',
    workDir: flagString(args, 'work-dir') ?? DEFAULT_WORK_DIR,
    ...(sizeMiB === undefined ? {} : { sizeMiB }),
    scrubFiles: flagList(args, 'scrub'),
    ...(args.flags['no-trim'] === true ? { noTrim: true } : {}),
  };
}

/** Test hook, as the device's (src/wiring.ts): SIGKILL at the named point of `UPGRADE_AGENT_CRASH_AT`. */
function crashHook(): ((p: BuildCrashPoint) => void) | undefined {
  const at = process.env['UPGRADE_AGENT_CRASH_AT'];
  if (at === undefined || !(BUILD_CRASH_POINTS as readonly string[]).includes(at)) return undefined;
  return (p) => {
    if (p === at) process.kill(process.pid, 'SIGKILL');
  };
}

export async function imageBuildCommand(args: ParsedArgs): Promise<string> {
  const log = createLogger({ name: 'upgradectl', fd: 2 });
  const crashPoint = crashHook();
  const result = await buildImage(
    {
      zfs: new ZfsCli({ busyTimeoutSec: 30, log }),
      mounter: (runtimeDir) => new LoopMounter({ runtimeDir }),
      sync: new RsyncTreeSync(),
      fsck: new E2fsck(),
      tools: new RealImageTools(),
      log,
      now: () => Date.now(),
      ...(crashPoint === undefined ? {} : { crashPoint }),
    },
    imageBuildOptions(args),
  );
  const { packages, ...rest } = result.contents;
  return JSON.stringify({ snapshot: result.snapshot, chunksWritten: result.chunksWritten, ...rest, packages: packages.length }, null, 2);
}
