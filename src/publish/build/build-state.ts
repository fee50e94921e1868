// The build's intent file: which build runs in a work directory and how far it got, written before each effect.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { InstalledPackage } from './tree-check.js';

/** In order; a stage is recorded only after its effect is complete and durable. */
export const BUILD_STAGES = ['started', 'copied', 'synced', 'checked', 'written', 'snapshotted'] as const;
export type BuildStage = (typeof BUILD_STAGES)[number];

/** Where the crash tests kill a build (UPGRADE_AGENT_CRASH_AT): after each stage, and inside the write-back. */
export const BUILD_CRASH_POINTS = ['build:copied', 'build:mounted', 'build:synced', 'build:checked', 'build:writing-back', 'build:written', 'build:snapshotted'] as const;
export type BuildCrashPoint = (typeof BUILD_CRASH_POINTS)[number];

/** What the image of a version holds; written beside the image in the dataset, so each snapshot carries its own. */
export interface BuildContents {
  schema: 1;
  version: number;
  base: number | null;
  /** treeDigest of the image's root after the scrub. */
  treeSha256: string;
  entries: number;
  packages: InstalledPackage[];
  scrubbed: string[];
  built: string;
}

export interface BuildState {
  schema: 1;
  dataset: string;
  version: number;
  base: number | null;
  tree: string;
  imageFile: string;
  stage: BuildStage;
  contents?: BuildContents;
}

export const STATE_FILE = 'build.json';
export const WORK_IMAGE = 'image.img';

export const stageAtLeast = (s: BuildState, stage: BuildStage): boolean => BUILD_STAGES.indexOf(s.stage) >= BUILD_STAGES.indexOf(stage);

/** The state of `dir`, or null when there is none or it cannot be read (a build then starts over cleanly). */
export function readState(dir: string): BuildState | null {
  const path = join(dir, STATE_FILE);
  if (!existsSync(path)) return null;
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as BuildState;
    return s.schema === 1 && BUILD_STAGES.includes(s.stage) ? s : null;
  } catch {
    return null;
  }
}

export function writeState(dir: string, s: BuildState): void {
  writeFileAtomic(join(dir, STATE_FILE), `${JSON.stringify(s, null, 2)}\n`);
}

/** Whether a recorded build is this one (same dataset, version, tree, image file, and base when one is known). */
export const sameBuild = (s: BuildState, want: Omit<BuildState, 'schema' | 'stage' | 'contents' | 'base'>): boolean =>
  s.dataset === want.dataset && s.version === want.version && s.tree === want.tree && s.imageFile === want.imageFile;
