// The journald catalog: one entry per MESSAGE_ID of src/systemd/catalog.ts, accepted by journalctl, every message still logged.
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, copyFileSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { CATALOG, messageId } from '../../src/systemd/catalog.js';
import { encodeJournalEntry } from '../../src/systemd/journal.js';

const FILE = join(process.cwd(), 'systemd/upgrade-agent.catalog');
const ids = [...new Set(CATALOG.map((e) => e.id))];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('journald catalog', () => {
  it('has one entry for each MESSAGE_ID, and ids are 128-bit hex', () => {
    const inFile = [...readFileSync(FILE, 'utf8').matchAll(/^-- ([0-9a-f]{32})$/gm)].map((m) => m[1]);
    expect(inFile.sort()).toEqual([...ids].sort());
    expect(new Set(CATALOG.map((e) => e.event))).toEqual(new Set(['started', 'ready', 'armed', 'committed', 'rolled-back', 'failed']));
  });

  it('every catalog message is logged by the agent, word for word', () => {
    const code = sources(join(process.cwd(), 'src')).filter((f) => !f.endsWith('catalog.ts')).map((f) => readFileSync(f, 'utf8')).join('\n');
    for (const e of CATALOG) expect(code, e.msg).toContain(`'${e.msg}');`);
    expect(messageId('trial armed')).toBe(CATALOG.find((e) => e.msg === 'trial armed')!.id);
    expect(messageId('step done')).toBeUndefined();
  });

  it('journalctl --update-catalog accepts it and lists every id', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ua-catalog-'));
    mkdirSync(join(root, 'usr/lib/systemd/catalog'), { recursive: true });
    copyFileSync(FILE, join(root, 'usr/lib/systemd/catalog/upgrade-agent.catalog'));
    const upd = await execa('journalctl', ['--root', root, '--update-catalog'], { reject: false, all: true });
    expect(upd.exitCode, upd.all).toBe(0);
    const list = await execa('journalctl', ['--root', root, '--list-catalog'], { all: true });
    for (const id of ids) expect(list.stdout).toContain(id);
    expect(list.stdout).toContain('upgrade-agent committed image version @UA_VERSION@');
  });
});

describe('journal native entries', () => {
  it('KEY=value lines, and the length-prefixed form for a value with a newline', () => {
    const b = encodeJournalEntry({ MESSAGE: 'a', ua_id: 3, 'x-y': 'l1\nl2' });
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(5n);
    expect(b).toEqual(Buffer.concat([Buffer.from('MESSAGE=a\nUA_ID=3\nX_Y\n'), len, Buffer.from('l1\nl2\n')]));
  });
});
