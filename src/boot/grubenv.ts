// The 1024-byte GRUB environment block: strict parse/render, and the one-shot trial (next_entry) kept in it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BootError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { entryId, versionOfEntryId } from './grub-cfg.js';

// Format, as grub-core/lib/envblk.c reads and writes it: the signature line, then `name=value\n` lines
// (value escapes: `\\` and `\<newline>`), lines starting with '#' are comments (Debian's grub-editenv adds a
// "# WARNING" line), and the unused tail is '#' padding right after a newline. Grub's own writers keep the
// size; Grub's save_env needs exactly the blocks it read, so the size never changes: 1024 bytes.
export const GRUBENV_SIZE = 1024;
export const GRUBENV_SIGNATURE = '# GRUB Environment Block\n';
export const GRUBENV_NAME = 'grubenv';
export const TRIAL_VAR = 'next_entry';
const NUL = String.fromCharCode(0);

function garbled(why: string, context: Record<string, unknown> = {}): BootError {
  return new BootError('E_GRUBENV_GARBLED', `grubenv: ${why}`, { context });
}

export function parseGrubenv(buf: Uint8Array): Map<string, string> {
  if (buf.length !== GRUBENV_SIZE) throw garbled(`size is ${buf.length} bytes, not ${GRUBENV_SIZE}`, { size: buf.length });
  // latin1 maps bytes 1:1, so offsets are byte offsets; names and values are decoded as UTF-8 at the end.
  const s = Buffer.from(buf).toString('latin1');
  if (!s.startsWith(GRUBENV_SIGNATURE)) throw garbled('no signature line');
  const vars = new Map<string, string>();
  let p = GRUBENV_SIGNATURE.length;
  while (p < s.length) {
    const nl = s.indexOf('\n', p);
    if (s[p] === '#') {
      if (nl === -1) {
        // The tail: nothing but padding may follow the last newline.
        if (!/^#*$/.test(s.slice(p))) throw garbled('padding holds something other than #', { offset: p });
        break;
      }
      p = nl + 1; // a comment line
      continue;
    }
    const eq = s.indexOf('=', p);
    if (eq === -1 || (nl !== -1 && eq > nl) || eq === p) throw garbled('a line is not name=value', { offset: p });
    const name = s.slice(p, eq);
    if (name.includes('\\') || name.includes(NUL)) throw garbled('a variable name has a backslash or NUL', { offset: p });
    let value = '';
    let q = eq + 1;
    for (; q < s.length && s[q] !== '\n'; q++) {
      if (s[q] === NUL) throw garbled('a value holds a NUL byte', { offset: q });
      if (s[q] === '\\') q++; // escaped: take the next byte as is
      if (q >= s.length) break;
      value += s[q];
    }
    if (q >= s.length) throw garbled('the last variable runs into the end of the block', { offset: p });
    const key = Buffer.from(name, 'latin1').toString('utf8');
    // Grub's set updates the first copy and load_env applies the last one: a repeated name is ambiguous.
    if (vars.has(key)) throw garbled(`variable ${key} appears twice`);
    vars.set(key, Buffer.from(value, 'latin1').toString('utf8'));
    p = q + 1;
  }
  return vars;
}

export function renderGrubenv(vars: ReadonlyMap<string, string>): Buffer {
  let body = GRUBENV_SIGNATURE;
  for (const [name, value] of vars) {
    if (name === '' || /[=\n\\]/.test(name) || name.includes(NUL) || name.startsWith('#'))
      throw new BootError('E_GRUBENV_INVALID', `grubenv: bad variable name ${JSON.stringify(name)}`, { context: { name } });
    // Grub could escape a newline, but nothing we store needs one, and a line-based reader should stay simple.
    if (value.includes('\n') || value.includes(NUL))
      throw new BootError('E_GRUBENV_INVALID', `grubenv: value of ${name} has a newline or NUL`, { context: { name } });
    body += `${name}=${value.replace(/\\/g, '\\\\')}\n`;
  }
  const head = Buffer.from(body, 'utf8');
  if (head.length > GRUBENV_SIZE)
    throw new BootError('E_GRUBENV_TOO_LARGE', `grubenv: ${head.length} bytes of variables do not fit in ${GRUBENV_SIZE}`, {
      context: { bytes: head.length },
    });
  const out = Buffer.alloc(GRUBENV_SIZE, '#');
  head.copy(out);
  return out;
}

export function grubenvPath(grubDir: string): string {
  return join(grubDir, GRUBENV_NAME);
}

/** The env block as it is now: null when there is no file; throws E_GRUBENV_GARBLED when it is not valid. */
export function readGrubenv(grubDir: string): Map<string, string> | null {
  let buf: Buffer;
  try {
    buf = readFileSync(grubenvPath(grubDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new BootError('E_GRUBENV_GARBLED', `cannot read ${grubenvPath(grubDir)}: ${(err as Error).message}`, { cause: err });
  }
  return parseGrubenv(buf);
}

/** Start from what is there if it is valid; a garbled or missing block is replaced by a fresh one. */
function readOrEmpty(grubDir: string): Map<string, string> {
  try {
    return readGrubenv(grubDir) ?? new Map();
  } catch (err) {
    if (err instanceof BootError && err.code === 'E_GRUBENV_GARBLED') return new Map();
    throw err;
  }
}

// Grub's save_env rewrites the file IN PLACE through the disk blocks it read it from (it cannot allocate).
// We replace it by tmp + rename instead, which changes the inode and the blocks: that is fine, because Grub
// looks grubenv up by path at every boot (load_env, and save_env re-reads the blocklist each time).
// The new file is a plain non-sparse 1024-byte file, which is what save_env's blocklist check needs.
function writeGrubenv(grubDir: string, vars: ReadonlyMap<string, string>): void {
  const data = renderGrubenv(vars);
  const path = grubenvPath(grubDir);
  try {
    writeFileAtomic(path, data);
  } catch (err) {
    throw new BootError('E_GRUB_WRITE', `cannot write ${path}: ${(err as Error).message}`, { cause: err, context: { path } });
  }
}

/** Arms the one-shot trial: the next boot (only) takes img-<version>; the generated grub.cfg clears it first. */
export function armTrial(grubDir: string, version: number): void {
  if (!Number.isSafeInteger(version) || version <= 0)
    throw new BootError('E_GRUBENV_INVALID', `trial version must be a positive integer: ${String(version)}`, {
      context: { version },
    });
  const vars = readOrEmpty(grubDir);
  vars.set(TRIAL_VAR, entryId(version));
  writeGrubenv(grubDir, vars);
}

/** Takes the trial back before it was booted. Leaves `next_entry=` (empty), as Grub's own clear does. */
export function disarmTrial(grubDir: string): void {
  const vars = readOrEmpty(grubDir);
  vars.set(TRIAL_VAR, '');
  writeGrubenv(grubDir, vars);
}

/**
 * The armed trial's version, as far as the agent is concerned: null when the file is missing or garbled
 * (Grub's load_env fails too, so nothing is armed), when next_entry is empty, and when it holds something the
 * agent never writes (a number or title, e.g. from grub-reboot): that boots something, but no trial of ours.
 */
export function readTrial(grubDir: string): number | null {
  let vars: Map<string, string> | null;
  try {
    vars = readGrubenv(grubDir);
  } catch (err) {
    if (err instanceof BootError && err.code === 'E_GRUBENV_GARBLED') return null;
    throw err;
  }
  return versionOfEntryId(vars?.get(TRIAL_VAR) ?? '');
}
