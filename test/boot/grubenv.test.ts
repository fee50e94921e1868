// grubenv: our blocks are read by real grub-editenv, its blocks are read by us, and the trial survives garbage.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootError, UpgradeError } from '../../src/errors.js';
import { armTrial, disarmTrial, parseGrubenv, readGrubenv, readTrial, renderGrubenv, GRUBENV_SIZE } from '../../src/boot/grubenv.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'grubenv-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function grubDir(): Promise<string> {
  return mkdtemp(join(dir, 'grub-'));
}

/** `grub-editenv FILE list` as a map (values printed unescaped, one per line). */
async function editenvList(file: string): Promise<Map<string, string>> {
  const r = await execa('grub-editenv', [file, 'list']);
  return new Map(
    r.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
  );
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof UpgradeError) {
      expect(err).toBeInstanceOf(BootError);
      return err.code;
    }
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('renderGrubenv / parseGrubenv against grub-editenv', () => {
  it('grub-editenv lists exactly what renderGrubenv wrote (backslashes escaped as Grub does)', async () => {
    const vars = new Map([
      ['next_entry', 'img-7'],
      ['saved_entry', 'img-6'],
      ['odd', 'a\\b c=d'],
      ['empty', ''],
    ]);
    const file = join(dir, 'rendered');
    const buf = renderGrubenv(vars);
    expect(buf.length).toBe(GRUBENV_SIZE);
    await writeFile(file, buf);
    expect(await editenvList(file)).toEqual(vars);
    expect(parseGrubenv(buf)).toEqual(vars);
  });

  it('Grub can edit our block in place (the same envblk code save_env uses), and we read the result', async () => {
    const file = join(dir, 'edited');
    await writeFile(file, renderGrubenv(new Map([['next_entry', 'img-3']])));
    await execa('grub-editenv', [file, 'set', 'next_entry=', 'other=x']);
    expect((await stat(file)).size).toBe(GRUBENV_SIZE);
    expect(parseGrubenv(await readFile(file))).toEqual(new Map([['next_entry', ''], ['other', 'x']]));
  });

  it("parses grub-editenv's own create + set + unset output (including Debian's # WARNING comment line)", async () => {
    const file = join(dir, 'editenv');
    await execa('grub-editenv', [file, 'create']);
    expect(parseGrubenv(await readFile(file))).toEqual(new Map());
    await execa('grub-editenv', [file, 'set', 'next_entry=img-12', 'x=a\\b', 'gone=1']);
    await execa('grub-editenv', [file, 'unset', 'gone']);
    expect(parseGrubenv(await readFile(file))).toEqual(new Map([['next_entry', 'img-12'], ['x', 'a\\b']]));
  });

  it('refuses garbled, truncated, oversized or ambiguous blocks with E_GRUBENV_GARBLED', () => {
    const good = renderGrubenv(new Map([['next_entry', 'img-1']]));
    const withText = (text: string) => {
      const b = Buffer.alloc(GRUBENV_SIZE, '#');
      b.write(text);
      return b;
    };
    expect(codeOf(() => parseGrubenv(randomBytes(GRUBENV_SIZE)))).toBe('E_GRUBENV_GARBLED');
    expect(codeOf(() => parseGrubenv(good.subarray(0, 500)))).toBe('E_GRUBENV_GARBLED');
    expect(codeOf(() => parseGrubenv(Buffer.concat([good, Buffer.from('#')])))).toBe('E_GRUBENV_GARBLED');
    expect(codeOf(() => parseGrubenv(Buffer.alloc(0)))).toBe('E_GRUBENV_GARBLED');
    expect(codeOf(() => parseGrubenv(withText('# GRUB Environment Blocx\n')))).toBe('E_GRUBENV_GARBLED');
    expect(codeOf(() => parseGrubenv(withText('# GRUB Environment Block\nno equals sign\n')))).toBe('E_GRUBENV_GARBLED');
    expect(codeOf(() => parseGrubenv(withText('# GRUB Environment Block\n=value\n')))).toBe('E_GRUBENV_GARBLED');
    expect(codeOf(() => parseGrubenv(withText('# GRUB Environment Block\na=1\na=2\n')))).toBe('E_GRUBENV_GARBLED');
    expect(codeOf(() => parseGrubenv(withText('# GRUB Environment Block\na=1\n####junk')))).toBe('E_GRUBENV_GARBLED');
    // A value running into the end: no newline anywhere after the signature.
    expect(codeOf(() => parseGrubenv(Buffer.from('# GRUB Environment Block\na=' + 'x'.repeat(GRUBENV_SIZE - 27))))).toBe('E_GRUBENV_GARBLED');
  });

  it('refuses what does not fit or cannot be written as a line', () => {
    expect(codeOf(() => renderGrubenv(new Map([['big', 'x'.repeat(1000)]])))).toBe('E_GRUBENV_TOO_LARGE');
    expect(codeOf(() => renderGrubenv(new Map([['a', 'line\nbreak']])))).toBe('E_GRUBENV_INVALID');
    expect(codeOf(() => renderGrubenv(new Map([['a\nb', '1']])))).toBe('E_GRUBENV_INVALID');
    expect(codeOf(() => renderGrubenv(new Map([['a=b', '1']])))).toBe('E_GRUBENV_INVALID');
    expect(codeOf(() => renderGrubenv(new Map([['#a', '1']])))).toBe('E_GRUBENV_INVALID');
    expect(codeOf(() => renderGrubenv(new Map([['', '1']])))).toBe('E_GRUBENV_INVALID');
  });
});

describe('armTrial / disarmTrial / readTrial', () => {
  it('arms on a missing file: grub-editenv sees next_entry=img-N; no temporary file is left', async () => {
    const g = await grubDir();
    expect(readTrial(g)).toBeNull();
    armTrial(g, 8);
    expect((await editenvList(join(g, 'grubenv'))).get('next_entry')).toBe('img-8');
    expect((await stat(join(g, 'grubenv'))).size).toBe(GRUBENV_SIZE);
    expect(await readdir(g)).toEqual(['grubenv']);
    expect(readTrial(g)).toBe(8);
  });

  it('keeps the other variables of a valid block', async () => {
    const g = await grubDir();
    await execa('grub-editenv', [join(g, 'grubenv'), 'set', 'saved_entry=img-2', 'next_entry=img-3']);
    armTrial(g, 4);
    expect(await editenvList(join(g, 'grubenv'))).toEqual(new Map([['saved_entry', 'img-2'], ['next_entry', 'img-4']]));
  });

  const broken: [string, () => Buffer][] = [
    ['random bytes', () => randomBytes(GRUBENV_SIZE)],
    ['a truncated block (500 bytes)', () => renderGrubenv(new Map([['next_entry', 'img-1']])).subarray(0, 500)],
    ['an empty file', () => Buffer.alloc(0)],
  ];
  for (const [what, make] of broken) {
    it(`arms over ${what}, producing a valid block`, async () => {
      const g = await grubDir();
      await writeFile(join(g, 'grubenv'), make());
      expect(readTrial(g)).toBeNull(); // Grub's load_env would fail too: nothing is armed
      armTrial(g, 21);
      expect(await editenvList(join(g, 'grubenv'))).toEqual(new Map([['next_entry', 'img-21']]));
      expect(readGrubenv(g)).toEqual(new Map([['next_entry', 'img-21']]));
    });
  }

  it('disarm clears the trial the way Grub does (next_entry= empty)', async () => {
    const g = await grubDir();
    armTrial(g, 5);
    disarmTrial(g);
    expect(await editenvList(join(g, 'grubenv'))).toEqual(new Map([['next_entry', '']]));
    expect(readTrial(g)).toBeNull();
  });

  it('reads a next_entry cleared by Grub-style in-place editing as no trial', async () => {
    const g = await grubDir();
    armTrial(g, 6);
    await execa('grub-editenv', [join(g, 'grubenv'), 'set', 'next_entry=']);
    expect(readTrial(g)).toBeNull();
  });

  it('reads a next_entry the agent did not write as no trial of ours; refuses a bad version', async () => {
    const g = await grubDir();
    await execa('grub-editenv', [join(g, 'grubenv'), 'set', 'next_entry=2']);
    expect(readTrial(g)).toBeNull();
    expect(codeOf(() => armTrial(g, 0))).toBe('E_GRUBENV_INVALID');
    expect(codeOf(() => armTrial(g, 2.5))).toBe('E_GRUBENV_INVALID');
  });

  it('reports an unwritable grub dir as E_GRUB_WRITE', () => {
    expect(codeOf(() => armTrial(join(dir, 'no-such-dir'), 1))).toBe('E_GRUB_WRITE');
  });
});
