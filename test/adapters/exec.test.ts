// execa imported at first use: recv and send started before the import still move every byte (through this process).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import { execaIfLoaded, loadExeca } from '../../src/adapters/exec.js';
import { ZfsCli } from '../../src/adapters/zfs-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'rss-exec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('execa at first use', () => {
  it('recv and send before the import: the pipe goes through this process, the send stream starts once execa is in', async () => {
    // Nothing in this file imported execa yet (each test file has its own modules): the fallbacks are the paths taken.
    expect(execaIfLoaded()).toBeNull();
    const out = join(dir, 'received');
    // `sh -c SCRIPT zfs recv TARGET`: the fake zfs copies its stdin to a file.
    const recvZfs = new ZfsCli({ via: ['sh', '-c', `cat > '${out}'`] });
    const writer = spawn('sh', ['-c', 'seq 1 20000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sendZfs = new ZfsCli({ via: ['sh', '-c', 'echo "sent $2"'] });
    // Same tick, before any await: execa is not loaded for either.
    const recv = recvZfs.recv('pool/ds@1', writer.stdout);
    const send = sendZfs.send('pool/ds@2');
    const [, sent] = await Promise.all([recv, text(send.stdout), send.done]);
    expect(readFileSync(out, 'utf8')).toBe(`${Array.from({ length: 20000 }, (_, i) => i + 1).join('\n')}\n`);
    expect(sent).toBe('sent pool/ds@2\n');
    expect(execaIfLoaded()).toBe(await loadExeca());
  });

  it('recv after the import hands the pipe to the child itself', async () => {
    await loadExeca();
    const out = join(dir, 'received2');
    const writer = spawn('sh', ['-c', 'seq 1 5000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new ZfsCli({ via: ['sh', '-c', `cat > '${out}'`] }).recv('pool/ds@1', writer.stdout);
    expect(readFileSync(out, 'utf8').split('\n')).toHaveLength(5001);
    expect(writer.stdout.destroyed).toBe(true);
  });
});
