// `upgradectl image build`: a root tree written into a copy of the previous version's image, scrubbed, checked,
// written back into the dataset chunk by chunk and snapshotted @N. Each stage is recorded after its effect.
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Zfs } from '../../adapters/zfs.js';
import type { ImageMounter } from '../../adapters/image-mount.js';
import type { ImageFsck } from '../../adapters/fsck.js';
import type { Logger } from '../../log.js';
import { BuildError } from '../../errors.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { readMounts } from '../../util/proc-mounts.js';
import { withSnapshotFile } from '../../steps/snapshot-file.js';
import { chunkForRecordsize, copyChanged } from './block-copy.js';
import { readState, sameBuild, stageAtLeast, writeState, STATE_FILE, WORK_IMAGE, type BuildContents, type BuildCrashPoint, type BuildState } from './build-state.js';
import { isZfsFs, type ImageTools } from './image-tools.js';
import { scrub, scrubRules, type ScrubRule } from './scrub.js';
import { checkTree, treePackages } from './tree-check.js';
import { treeDigest } from './tree-hash.js';
import type { TreeSync } from './tree-sync.js';

export interface BuildDeps {
  zfs: Zfs & { snapshot(name: string): Promise<void> };
  /** Loop-mounts the work copy; its runtime dir is under the work directory (never on ZFS). */
  mounter: (runtimeDir: string) => ImageMounter;
  sync: TreeSync;
  fsck: ImageFsck;
  tools: ImageTools;
  log: Logger;
  now: () => number;
  crashPoint?: (name: BuildCrashPoint) => void;
}

export interface BuildOptions {
  dataset: string;
  version: number;
  tree: string;
  /** The image inside the file-layout dataset (default root.img). */
  imageFile: string;
  /** Outside ZFS; one sub-directory per dataset holds the build's state and image copy. */
  workDir: string;
  /** Size of a first version's new image, when the dataset has no snapshot yet. */
  sizeMiB?: number;
  /** Publisher scrub lists, after the built-in one. */
  scrubFiles: string[];
  /** Leave freed blocks as they were (no fstrim): smaller diffs, larger full streams (docs/benchmarks.md). */
  noTrim?: boolean;
}

export interface BuildResult {
  snapshot: string;
  contents: BuildContents;
  /** Chunks of the dataset's image file that this run rewrote (0 when it only finished an earlier run). */
  chunksWritten: number;
}

/** The record beside the image in the dataset: `root.img` → `root.img.contents.json`. */
export const contentsFileName = (imageFile: string): string => `${imageFile}.contents.json`;
/** Paths of an image that are never synced nor deleted: mke2fs's, e2fsck wants it there. */
const KEEP = ['/lost+found'];

export async function buildImage(deps: BuildDeps, o: BuildOptions): Promise<BuildResult> {
  const { zfs, log } = deps;
  const crash = deps.crashPoint ?? (() => undefined);
  // Every refusal comes before the first effect.
  checkTree(o.tree);
  const tree = realpathSync(o.tree);
  const rules = scrubRules(o.scrubFiles);
  mkdirSync(o.workDir, { recursive: true, mode: 0o700 });
  const fstype = deps.tools.fstypeOf(o.workDir);
  if (isZfsFs(fstype)) {
    throw new BuildError('E_BUILD_WORKDIR', `work directory ${o.workDir} is on ${fstype}: an image is loop-mounted only outside ZFS (--work-dir)`, { context: { workDir: o.workDir, fstype } });
  }
  if (!(await zfs.exists(o.dataset))) throw new BuildError('E_BUILD_BASE', `dataset ${o.dataset} does not exist (zfs create it first)`, { context: { dataset: o.dataset } });
  const dir = join(o.workDir, o.dataset.replaceAll('/', '_'));
  const want = { dataset: o.dataset, version: o.version, tree, imageFile: o.imageFile };
  let state = readState(dir);
  if (state !== null && !sameBuild(state, want)) {
    log.info({ dir, was: { version: state.version, tree: state.tree } }, 'another build was left in the work directory: starting over');
    await discardWork(deps, dir);
    state = null;
  }
  const snaps = await zfs.snapshots(o.dataset);
  const snapshot = `${o.dataset}@${o.version}`;
  if (snaps.some((s) => s.version === o.version)) {
    // Ours when a recorded build of exactly this got as far as the write-back: only the clean-up was left.
    if (state?.contents !== undefined && stageAtLeast(state, 'written')) return finish(deps, dir, state, snapshot, 0);
    throw new BuildError('E_BUILD_VERSION', `${snapshot} already exists`, { context: { have: snaps.map((s) => s.version) } });
  }
  const newest = snaps.at(-1)?.version ?? null;
  if (newest !== null && newest > o.version) {
    throw new BuildError('E_BUILD_VERSION', `${snapshot} is not above the newest snapshot @${newest}`, { context: { have: snaps.map((s) => s.version) } });
  }
  if (state !== null && state.base !== newest) {
    await discardWork(deps, dir);
    state = null;
  }
  if (newest === null && o.sizeMiB === undefined) {
    throw new BuildError('E_BUILD_BASE', `${o.dataset} has no snapshot to build into: give --size for a first version`, { context: { dataset: o.dataset } });
  }
  if (state === null) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    state = { schema: 1, ...want, base: newest, stage: 'started' };
    writeState(dir, state);
  }
  const work = join(dir, WORK_IMAGE);
  const advance = (s: BuildState, patch: Partial<BuildState>): BuildState => {
    const next = { ...s, ...patch };
    writeState(dir, next);
    return next;
  };

  if (!stageAtLeast(state, 'copied')) {
    await copyOut(deps, o, newest, work);
    state = advance(state, { stage: 'copied' });
    crash('build:copied');
  }
  if (!stageAtLeast(state, 'synced')) {
    const contents = await syncInto(deps, { dir, work, tree, rules, version: o.version, base: newest, trim: o.noTrim !== true }, crash);
    state = advance(state, { stage: 'synced', contents });
    crash('build:synced');
  }
  if (!stageAtLeast(state, 'checked')) {
    const r = await deps.fsck.check(work);
    if (r.exitCode !== 0) throw new BuildError('E_BUILD_FSCK', `e2fsck -fn ${work} exited ${r.exitCode}: ${r.output}`, { context: { image: work, exitCode: r.exitCode } });
    state = advance(state, { stage: 'checked' });
    crash('build:checked');
  }
  let chunksWritten = 0;
  if (!stageAtLeast(state, 'written')) {
    const mnt = await datasetMountpoint(zfs, o.dataset);
    const chunk = await writeChunk(zfs, o.dataset);
    const stats = await copyChanged(work, join(mnt, o.imageFile), () => crash('build:writing-back'), chunk);
    chunksWritten = stats.written;
    // A write of the record cut by a kill leaves its temporary file: it must not be snapshotted with the image.
    const tmpPrefix = `.${contentsFileName(o.imageFile)}.tmp-`;
    for (const n of readdirSync(mnt).filter((x) => x.startsWith(tmpPrefix))) rmSync(join(mnt, n), { force: true });
    writeFileAtomic(join(mnt, contentsFileName(o.imageFile)), `${JSON.stringify(state.contents, null, 2)}\n`);
    log.info({ dataset: o.dataset, chunk, chunks: stats.chunks, written: stats.written }, 'image written back into the dataset');
    state = advance(state, { stage: 'written' });
    crash('build:written');
  }
  await zfs.snapshot(snapshot);
  state = advance(state, { stage: 'snapshotted' });
  crash('build:snapshotted');
  return finish(deps, dir, state, snapshot, chunksWritten);
}

/** The dataset's recordsize as the write-back chunk: a chunk larger than a record rewrites records that did not change. */
async function writeChunk(zfs: BuildDeps['zfs'], dataset: string): Promise<number> {
  return chunkForRecordsize(Number(await zfs.getProp(dataset, 'recordsize')));
}

async function finish(deps: BuildDeps, dir: string, state: BuildState, snapshot: string, chunksWritten: number): Promise<BuildResult> {
  await discardWork(deps, dir);
  return { snapshot, contents: state.contents as BuildContents, chunksWritten };
}

/** The previous version's image (read through a clone of @base) or a new empty one, sparse, as `work`. */
async function copyOut(deps: BuildDeps, o: BuildOptions, base: number | null, work: string): Promise<void> {
  const tmp = `${work}.tmp`;
  rmSync(tmp, { force: true });
  if (base === null) {
    await deps.tools.mkfs(tmp, o.sizeMiB as number);
  } else {
    const clone = `${o.dataset}.build-${base}`;
    await withSnapshotFile(deps, `${o.dataset}@${base}`, clone, o.imageFile, async (path) => {
      try {
        await copyChanged(path, tmp);
      } catch (err) {
        throw new BuildError('E_BUILD_BASE', `${o.dataset}@${base} holds no readable ${o.imageFile}: ${(err as Error).message}`, { cause: err, context: { dataset: o.dataset, base } });
      }
    });
  }
  renameSync(tmp, work);
}

/** Mounts the work copy, writes the tree into it, scrubs, digests, discards freed blocks, and unmounts. */
async function syncInto(
  deps: BuildDeps,
  b: { dir: string; work: string; tree: string; rules: ScrubRule[]; version: number; base: number | null; trim: boolean },
  crash: (p: BuildCrashPoint) => void,
): Promise<BuildContents> {
  const mounter = deps.mounter(join(b.dir, 'mnt'));
  // A killed build leaves its loop mount behind (the kernel keeps it): that one is ours to take down.
  for (const m of await mounter.findMounts(b.work)) {
    if (!m.ours) throw new BuildError('E_BUILD_WORKDIR', `${b.work} is mounted on ${m.mountpoint}, not by a build`, { context: { mountpoint: m.mountpoint } });
    await mounter.unmount(m.mountpoint);
  }
  await mounter.removeStale();
  const mnt = await mounter.makeMountpoint();
  await mounter.mount(b.work, mnt, { readOnly: false });
  try {
    crash('build:mounted');
    await deps.sync.sync(b.tree, mnt, { keep: KEEP });
    const scrubbed = await scrub(mnt, b.rules);
    const digest = await treeDigest(mnt, KEEP);
    // Blocks freed in a transaction that is not committed yet are not discarded: commit first, then trim.
    await mounter.syncfs(mnt);
    if (b.trim) {
      await deps.tools.trim(mnt);
      await mounter.syncfs(mnt);
    }
    return {
      schema: 1,
      version: b.version,
      base: b.base,
      treeSha256: digest.sha256,
      entries: digest.entries,
      packages: treePackages(b.tree),
      scrubbed,
      built: new Date(deps.now()).toISOString(),
    };
  } finally {
    await mounter.unmount(mnt);
  }
}

async function datasetMountpoint(zfs: BuildDeps['zfs'], dataset: string): Promise<string> {
  const at = await zfs.mountpoint(dataset);
  if (at !== null) return at;
  await zfs.mount(dataset);
  const now = await zfs.mountpoint(dataset);
  if (now === null) throw new BuildError('E_BUILD_BASE', `dataset ${dataset} cannot be mounted to write its image`, { context: { dataset } });
  return now;
}

/** Takes down a work directory: unmount what a killed build left mounted, then delete its files. */
async function discardWork(deps: BuildDeps, dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  const mounter = deps.mounter(join(dir, 'mnt'));
  const work = join(dir, WORK_IMAGE);
  for (const path of [work, `${work}.tmp`]) {
    const mounts = await mounter.findMounts(path).catch(() => []);
    for (const m of mounts) await mounter.unmount(m.mountpoint);
  }
  const real = realpathSync(dir, { encoding: 'utf8' as const });
  const left = readMounts().filter((m) => m.target === real || m.target.startsWith(`${real}/`));
  // rm -r descends into mounts: with anything still mounted below, the files stay and the build says why.
  if (left.length > 0) throw new BuildError('E_BUILD_WORKDIR', `${dir} still has ${left.map((m) => m.target).join(', ')} mounted`, { context: { dir } });
  rmSync(join(dir, STATE_FILE), { force: true });
  rmSync(dir, { recursive: true, force: true });
}

