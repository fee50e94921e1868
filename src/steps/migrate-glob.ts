// Path patterns for the migrate allow/deny lists: absolute paths where `*` spans one segment and `**` any number.
import { MigrateError } from '../errors.js';

/** One segment of a pattern: `**`, or a matcher for exactly one path segment. */
type Segment = { any: true } | { any: false; literal: string | null; re: RegExp };

export interface PathPattern {
  /** The pattern as configured, normalized (no trailing slash). */
  source: string;
  segments: Segment[];
  /** True when the pattern has no wildcard: it names one path. */
  literal: boolean;
}

const escapeRe = (s: string): string => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

/**
 * Parses an absolute pattern. Rejected: relative paths, `.`/`..`/empty segments (they could step out of the
 * root or mean something other than they look), NUL, and `/` itself (the whole root is never a migration).
 * `*` also matches names starting with a dot: these are config lists, not shell globs.
 */
export function parsePattern(pattern: string): PathPattern {
  const bad = (why: string): never => {
    throw new MigrateError('E_MIGRATE_PATH', `migrate path ${JSON.stringify(pattern)} ${why}`, { context: { pattern } });
  };
  if (!pattern.startsWith('/')) bad('must be absolute');
  if (pattern.includes('\0')) bad('contains NUL');
  const source = pattern.length > 1 ? pattern.replace(/\/+$/, '') : pattern;
  const parts = source.split('/').slice(1);
  if (source === '/' || parts.length === 0) bad('names the whole root');
  const segments = parts.map((part): Segment => {
    if (part === '' || part === '.' || part === '..') bad('has an empty, "." or ".." segment');
    if (part === '**') return { any: true };
    const re = new RegExp(`^${part.split('*').map(escapeRe).join('[^/]*')}$`);
    return { any: false, literal: part.includes('*') ? null : part, re };
  });
  return { source, segments, literal: segments.every((s) => !s.any && s.literal !== null) };
}

/** Splits an absolute, already validated path into its segments. */
export const pathSegments = (path: string): string[] => path.split('/').filter((s) => s !== '');

function matchFrom(pattern: Segment[], names: string[], partial: boolean): boolean {
  // Memoized over (pattern index, path index): consecutive `**` would otherwise be exponential.
  const memo = new Map<number, boolean>();
  const m = (i: number, j: number): boolean => {
    const key = i * (names.length + 1) + j;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let r: boolean;
    const seg = pattern[i];
    if (seg === undefined) r = !partial && j === names.length;
    else if (j === names.length && partial) r = true; // what is left of the pattern can match something deeper
    else if (seg.any) r = m(i + 1, j) || (j < names.length && m(i, j + 1));
    else r = j < names.length && seg.re.test(names[j] ?? '') && m(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return m(0, 0);
}

/** True when `path` (absolute, inside the root) matches the pattern exactly. `/a/**` matches `/a` itself too. */
export function globMatch(pattern: PathPattern | string, path: string): boolean {
  const p = typeof pattern === 'string' ? parsePattern(pattern) : pattern;
  return matchFrom(p.segments, pathSegments(path), false);
}

/** True when some path strictly below directory `dir` could match: lets a walk skip whole subtrees. */
export function couldMatchBelow(pattern: PathPattern, dir: string): boolean {
  return matchFrom(pattern.segments, pathSegments(dir), true);
}

/** The longest leading run of literal segments, as a path (`/etc` for `/etc/**\/*.conf`; `/` when none). */
export function literalPrefix(pattern: PathPattern): string {
  const lits: string[] = [];
  for (const s of pattern.segments) {
    if (s.any || s.literal === null) break;
    lits.push(s.literal);
  }
  return `/${lits.join('/')}`;
}

/** The deny pattern that excludes `path`: one matching the path itself or any of its ancestors, else null. */
export function deniedBy(deny: PathPattern[], path: string): string | null {
  const names = pathSegments(path);
  for (let n = names.length; n >= 1; n--) {
    const sub = names.slice(0, n);
    for (const d of deny) if (matchFrom(d.segments, sub, false)) return d.source;
  }
  return null;
}
