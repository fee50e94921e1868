// Migration planning: which allowed paths of the running root differ from the new image, and why. Reads only.
import type { Stats } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import { MigrateError } from '../errors.js';
import {
  assertSafeParents, checkParents, hostPath, kindOf, lstatOrNull, mtimeSec, permBits, sha256OfFile, specialName, type EntryKind,
} from './migrate-fs.js';
import { couldMatchBelow, deniedBy, globMatch, literalPrefix, parsePattern, type PathPattern } from './migrate-glob.js';

export type { EntryKind } from './migrate-fs.js';
export type EntryAction = 'create' | 'update' | 'unchanged' | 'skip' | 'absent-in-source';

export interface PlanEntry {
  /** Absolute path inside both roots. */
  path: string;
  /** What the source has ('none' when absent, 'special' for devices, sockets, fifos). */
  kind: EntryKind;
  action: EntryAction;
  /** Why: 'missing in target', 'size', 'content', 'mode', 'owner', 'mtime', 'symlink target', 'type: …', … */
  reasons: string[];
}

export interface MigrationPlan {
  sourceRoot: string;
  targetRoot: string;
  /** Sorted by path, so every directory comes before what it contains. */
  entries: PlanEntry[];
  /** Paths an allow entry reached that a deny entry excluded (a denied directory is listed once, not walked). */
  denied: string[];
}

export interface MigrationSelection {
  sourceRoot: string;
  /**
   * Absolute paths inside the root: files, directories (copied recursively), or patterns with `*` and `**`.
   * A symlink is carried as a symlink, never followed; a symlink among the ancestors is E_MIGRATE_UNSAFE_PATH.
   */
  allow: string[];
  /** Excluded even when allowed (a match excludes everything below it too), e.g. secrets never carried over. */
  deny?: string[];
}

/** Missing target directories above an allowed path: created like the source's, but never compared later. */
export const PARENT_REASON = 'parent of an allowed path';

interface Ctx {
  sourceRoot: string;
  targetRoot: string;
  deny: PathPattern[];
  entries: Map<string, PlanEntry>;
  denied: Set<string>;
}

const childPath = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);
const entry = (path: string, kind: EntryKind, action: EntryAction, ...reasons: string[]): PlanEntry => ({ path, kind, action, reasons });

/** Compares one source path with the same path in the target; the target's ancestors are already known safe. */
async function compare(ctx: Ctx, path: string, src: Stats): Promise<PlanEntry> {
  const kind = kindOf(src);
  const tgt = await lstatOrNull(hostPath(ctx.targetRoot, path));
  if (tgt === null) return entry(path, kind, 'create', 'missing in target');
  const tkind = kindOf(tgt);
  if (tkind !== kind) {
    // A directory on either side means the new image changed its layout here: replacing a tree (or putting a
    // tree where the image expects a file) could break the new OS, so this is reported, not forced.
    if (kind === 'dir' || tkind === 'dir') return entry(path, kind, 'skip', `conflict: source is a ${kind}, target is a ${tkind}`);
    return entry(path, kind, 'update', `type: target is a ${tkind}`);
  }
  const reasons: string[] = [];
  if (kind === 'file') {
    if (src.size !== tgt.size) reasons.push('size');
    else if ((await sha256OfFile(hostPath(ctx.sourceRoot, path))) !== (await sha256OfFile(hostPath(ctx.targetRoot, path)))) reasons.push('content');
  }
  if (kind === 'symlink') {
    const [a, b] = await Promise.all([readlink(hostPath(ctx.sourceRoot, path)), readlink(hostPath(ctx.targetRoot, path))]);
    if (a !== b) reasons.push('symlink target');
  }
  // Symlink permission bits are always 0777 on Linux and cannot be set: not compared.
  if (kind !== 'symlink' && permBits(src) !== permBits(tgt)) reasons.push('mode');
  if (src.uid !== tgt.uid || src.gid !== tgt.gid) reasons.push('owner');
  if (mtimeSec(src) !== mtimeSec(tgt)) reasons.push('mtime');
  return entry(path, kind, reasons.length > 0 ? 'update' : 'unchanged', ...reasons);
}

/**
 * Plans one existing source path (and, for a directory, everything below it). `top` marks a path named by an
 * allow entry: only those need their target ancestors checked, since children hang off an entry already planned.
 * `parentDev` stops recursion at mount points (like rsync -x): /proc, /run or /host are never migrated by accident.
 */
async function visit(ctx: Ctx, path: string, src: Stats, top: boolean, parentDev: number | null): Promise<void> {
  const seen = ctx.entries.get(path);
  if (seen !== undefined && seen.reasons[0] !== PARENT_REASON) return;
  if (deniedBy(ctx.deny, path) !== null) {
    ctx.denied.add(path);
    return;
  }
  const kind = kindOf(src);
  if (kind === 'special') {
    ctx.entries.set(path, entry(path, kind, 'skip', `special file (${specialName(src)})`));
    return;
  }
  if (kind === 'dir' && parentDev !== null && src.dev !== parentDev) {
    ctx.entries.set(path, entry(path, kind, 'skip', 'mount point (another filesystem)'));
    return;
  }
  let missingParents: string[] = [];
  if (top) {
    const tp = await checkParents(ctx.targetRoot, path);
    assertSafeParents(tp, 'target', path);
    if (tp.state === 'missing') missingParents = tp.missing;
  }
  const e = await compare(ctx, path, src);
  ctx.entries.set(path, e);
  if (e.action === 'create') {
    for (const p of missingParents) if (!ctx.entries.has(p)) ctx.entries.set(p, entry(p, 'dir', 'create', PARENT_REASON));
  }
  if (kind !== 'dir' || e.action === 'skip') return;
  const names = (await readdir(hostPath(ctx.sourceRoot, path))).sort();
  for (const name of names) {
    const p = childPath(path, name);
    const st = await lstatOrNull(hostPath(ctx.sourceRoot, p));
    if (st !== null) await visit(ctx, p, st, false, src.dev); // null: removed while we walked
  }
}

/** A literal allow entry; false when the source does not have it. */
async function visitLiteral(ctx: Ctx, path: string): Promise<boolean> {
  const sp = await checkParents(ctx.sourceRoot, path);
  if (sp.state === 'symlink') assertSafeParents(sp, 'source', path);
  if (sp.state !== 'ok') return false;
  const st = await lstatOrNull(hostPath(ctx.sourceRoot, path));
  if (st === null) return false;
  await visit(ctx, path, st, true, null);
  return true;
}

/** Walks the source below the pattern's literal prefix, into real directories only; false when nothing matched. */
async function visitGlob(ctx: Ctx, pat: PathPattern): Promise<boolean> {
  const prefix = literalPrefix(pat);
  if (prefix !== '/' && globMatch(pat, prefix)) return visitLiteral(ctx, prefix); // `/etc/**` is all of /etc
  let dev: number;
  if (prefix === '/') {
    dev = (await lstatOrNull(ctx.sourceRoot))?.dev ?? -1;
  } else {
    const sp = await checkParents(ctx.sourceRoot, childPath(prefix, 'x')); // checks the prefix itself too
    if (sp.state === 'symlink') assertSafeParents(sp, 'source', pat.source);
    if (sp.state !== 'ok') return false;
    dev = (await lstatOrNull(hostPath(ctx.sourceRoot, prefix)))?.dev ?? -1;
  }
  const walk = async (dir: string): Promise<boolean> => {
    let found = false;
    for (const name of (await readdir(hostPath(ctx.sourceRoot, dir))).sort()) {
      const p = childPath(dir, name);
      const st = await lstatOrNull(hostPath(ctx.sourceRoot, p));
      if (st === null) continue;
      if (globMatch(pat, p)) {
        found = true;
        await visit(ctx, p, st, true, null);
      } else if (st.isDirectory() && st.dev === dev && couldMatchBelow(pat, p)) {
        if (deniedBy(ctx.deny, p) === null) found = (await walk(p)) || found;
        else ctx.denied.add(p); // something below might have matched: worth reporting
      }
    }
    return found;
  };
  return walk(prefix);
}

/**
 * Compares every allowed source path with the target, without writing anything. Missing allowed paths are
 * listed as 'absent-in-source' (a device may simply not have that file); special files are skipped with a reason.
 * Throws E_MIGRATE_PATH for a malformed pattern and E_MIGRATE_UNSAFE_PATH when a path would be resolved through
 * a symlink or a non-directory (in the target: where a write could land outside the image).
 */
export async function planMigration(opts: MigrationSelection, targetRoot: string): Promise<MigrationPlan> {
  const allow = opts.allow.map(parsePattern);
  const ctx: Ctx = { sourceRoot: opts.sourceRoot, targetRoot, deny: (opts.deny ?? []).map(parsePattern), entries: new Map(), denied: new Set() };
  if ((await lstatOrNull(opts.sourceRoot))?.isDirectory() !== true) {
    throw new MigrateError('E_MIGRATE_PATH', `migration source root ${opts.sourceRoot} is not a directory`, { context: { sourceRoot: opts.sourceRoot } });
  }
  for (const pat of allow) {
    const found = pat.literal ? await visitLiteral(ctx, pat.source) : await visitGlob(ctx, pat);
    if (!found && !ctx.entries.has(pat.source)) {
      ctx.entries.set(pat.source, entry(pat.source, 'none', 'absent-in-source', pat.literal ? 'not in source' : 'pattern matched nothing'));
    }
  }
  const entries = [...ctx.entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { sourceRoot: opts.sourceRoot, targetRoot, entries, denied: [...ctx.denied].sort() };
}

/** How many entries have each action: for logs and reports. */
export function countActions(entries: PlanEntry[]): Record<EntryAction, number> {
  const counts: Record<EntryAction, number> = { create: 0, update: 0, unchanged: 0, skip: 0, 'absent-in-source': 0 };
  for (const e of entries) counts[e.action]++;
  return counts;
}
