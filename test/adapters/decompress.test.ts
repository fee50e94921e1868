// XzCli: decompresses a descriptor or a pipe to its stdout, and reports a bad stream or a missing binary in its exit.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { XzCli } from '../../src/adapters/decompress.js';

const dir = mkdtempSync(join(tmpdir(), 'ua-xz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const raw = Buffer.from('a stream of bytes, '.repeat(5000));
const packed = spawnSync('xz', ['-0', '-c'], { input: raw }).stdout;

async function drain(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of r) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

describe('XzCli', () => {
  it('decompresses from a descriptor, with no stdin of its own', async () => {
    const path = join(dir, 'good.xz');
    writeFileSync(path, packed);
    const fd = openSync(path, 'r');
    const d = new XzCli().start(fd);
    closeSync(fd);
    expect(d.stdin).toBeNull();
    const [out, exit] = await Promise.all([drain(d.stdout), d.done]);
    expect(out.equals(raw)).toBe(true);
    expect(exit).toMatchObject({ code: 0, signal: null, stderr: '' });
  });

  it('decompresses what is written to its stdin', async () => {
    const d = new XzCli().start('pipe');
    d.stdin!.end(packed);
    const [out, exit] = await Promise.all([drain(d.stdout), d.done]);
    expect(out.equals(raw)).toBe(true);
    expect(exit.code).toBe(0);
  });

  it('a corrupt stream exits non-zero with what xz said', async () => {
    const d = new XzCli().start('pipe');
    d.stdin!.end(Buffer.from('this is not xz at all'));
    const [, exit] = await Promise.all([drain(d.stdout), d.done]);
    expect(exit.code).not.toBe(0);
    expect(exit.stderr).toMatch(/format|corrupt/i);
  });

  it('kill() ends it at once', async () => {
    const d = new XzCli().start('pipe');
    d.kill();
    const exit = await d.done;
    expect(exit.signal).toBe('SIGKILL');
  });

  it('a binary that is not there: the spawn error, no exit code', async () => {
    const d = new XzCli('/nonexistent/xz').start('pipe');
    d.stdout.resume();
    const exit = await d.done;
    expect(exit.error?.message).toMatch(/ENOENT/);
    expect(exit.code).not.toBe(0);
  });
});
