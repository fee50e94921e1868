// Per-machine state that must not ship in an image: the built-in list, the publisher's own lists, and applying them.
import { readFileSync } from 'node:fs';
import { constants, lstat, open, readdir, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError, UpgradeError } from '../../errors.js';
import { couldMatchBelow, globMatch, literalPrefix, parsePattern, type PathPattern } from '../../steps/migrate-glob.js';

/** `remove`: the matches go (directories with what is in them); `empty`: a regular file of zero bytes stays. */
export interface ScrubRule {
  action: 'remove' | 'empty';
  pattern: PathPattern;
}

/**
 * Always scrubbed (README, "Publishing"). An empty /etc/machine-id makes systemd treat the first boot as a first
 * boot and generate the id (machine-id(5)); ssh host keys, udev's persistent net names, DHCP leases, the random
 * seed and systemd's credential secret are each one machine's and would be shared by every device otherwise.
 */
export const DEFAULT_SCRUB = [
  'empty /etc/machine-id',
  '/var/lib/dbus/machine-id',
  '/etc/ssh/ssh_host_*',
  '/etc/udev/rules.d/70-persistent-net.rules',
  '/var/lib/dhcp/*.leases',
  '/var/lib/dhclient/*.leases',
  '/var/lib/NetworkManager/*.lease',
  '/var/lib/systemd/random-seed',
  '/var/lib/systemd/credential.secret',
] as const;

/** Parses scrub-list text: one entry a line, `PATTERN` or `empty PATTERN`; `#` comments and blank lines skipped. */
export function parseScrubList(text: string, source: string): ScrubRule[] {
  const rules: ScrubRule[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const m = /^(?:(empty|remove)\s+)?(\S+)$/.exec(line);
    const bad = (why: string, cause?: unknown): never => {
      throw new BuildError('E_BUILD_SCRUB', `${source}:${i + 1}: ${JSON.stringify(raw)} ${why}`, { context: { source, line: i + 1 }, cause });
    };
    if (m === null) bad('is not "PATTERN" or "empty PATTERN"');
    try {
      rules.push({ action: m?.[1] === 'empty' ? 'empty' : 'remove', pattern: parsePattern(m?.[2] ?? '') });
    } catch (err) {
      bad(err instanceof UpgradeError ? err.message : 'is not an absolute path pattern', err);
    }
  });
  return rules;
}

/** The built-in rules followed by those of each file (`--scrub FILE`). */
export function scrubRules(files: string[]): ScrubRule[] {
  const rules = parseScrubList(DEFAULT_SCRUB.join('\n'), 'built-in scrub list');
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      throw new BuildError('E_BUILD_SCRUB', `scrub list ${f} cannot be read: ${(err as Error).message}`, { context: { file: f }, cause: err });
    }
    rules.push(...parseScrubList(text, f));
  }
  return rules;
}

const lstatOrNull = (p: string) => lstat(p).catch(() => null);

/**
 * Image paths under `root` that `pattern` matches, found without following any symlink: a walk that entered a
 * symlinked directory could remove or truncate the build machine's own files.
 */
async function matches(root: string, pattern: PathPattern): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(join(root, dir)).catch(() => [] as string[])).sort()) {
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      if (globMatch(pattern, path)) {
        found.push(path);
        continue;
      }
      const st = await lstatOrNull(join(root, path));
      if (st?.isDirectory() === true && couldMatchBelow(pattern, path)) await walk(path);
    }
  };
  const prefix = literalPrefix(pattern);
  // Every ancestor of the literal prefix must be a real directory (not a symlink) for the walk to start there.
  const names = prefix.split('/').filter(Boolean);
  for (let i = 1; i <= names.length; i++) {
    const st = await lstatOrNull(join(root, ...names.slice(0, i)));
    if (st === null) return [];
    if (i < names.length && !st.isDirectory()) return [];
    if (i === names.length && !st.isDirectory()) return globMatch(pattern, prefix) ? [prefix] : [];
  }
  if (globMatch(pattern, prefix)) return [prefix];
  await walk(prefix);
  return found;
}

/** Applies the rules to the mounted image at `root`; returns the image paths changed. Running it twice is a no-op. */
export async function scrub(root: string, rules: ScrubRule[]): Promise<string[]> {
  const changed: string[] = [];
  for (const rule of rules) {
    for (const path of await matches(root, rule.pattern)) {
      const at = join(root, path);
      const st = await lstatOrNull(at);
      if (st === null) continue;
      if (rule.action === 'remove') {
        await rm(at, { recursive: true, force: true });
        changed.push(path);
      } else if (st.isFile()) {
        if (st.size === 0) continue;
        const fh: FileHandle = await open(at, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
        await fh.close();
        changed.push(path);
      } else {
        // A symlink or anything else in the place of a file to empty becomes the empty file.
        await rm(at, { recursive: true, force: true });
        await writeFile(at, '', { mode: 0o444, flag: 'wx' });
        changed.push(path);
      }
    }
  }
  return changed;
}
