// A device verb run by an unprivileged user answers E_PERMISSION (exit 1, no stack trace), not E_INTERNAL or empty state.
import { describe, it, expect, beforeAll } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { openStateDb } from '../../src/state/db.js';

const CLI = join(process.cwd(), 'dist/src/cli/upgradectl.js');
const root = process.getuid?.() === 0;

let config: string;
beforeAll(() => {
  // Everything but the state dir is readable by nobody: the config, the CLI, the images dir.
  const dir = mkdtempSync(join(tmpdir(), 'ua-perm-'));
  chmodSync(dir, 0o755);
  const host = join(dir, 'host');
  mkdirSync(join(host, 'images'), { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'cmdline'), 'root=/dev/vda1 ua.image=/images/1.img\n');
  config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({
    deviceId: 'd', hardware: 'h', zfs: { pool: 'p' }, logLevel: 'warn',
    paths: { hostRoot: host, stateDir: join(dir, 'state'), socket: join(dir, 'none.sock') },
    fleet: { url: 'https://127.0.0.1:1' }, boot: { cmdlineFile: join(dir, 'cmdline'), bootIdFile: join(dir, 'cmdline') },
  }), { mode: 0o644 });
  if (root) openStateDb(join(dir, 'state')).close(); // root's state dir, 0700
});

describe.skipIf(!root)('as nobody, against a root-owned 0700 state dir', () => {
  const verbs = [['status'], ['history'], ['check-in'], ['prepare', '--manifest', 'https://127.0.0.1:1/m.json'], ['cleanup'], ['apply'], ['confirm'], ['rollback'], ['grub-cfg', '--print'], ['daemon']];
  it.each(verbs.map((v) => [v.join(' '), v]))('%s is E_PERMISSION', async (_name, verb) => {
    const r = await execa('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'node', CLI, ...(verb as string[]), '--config', config], { reject: false, timeout: 30_000 });
    expect(r.stderr).toMatch(/^upgradectl: E_PERMISSION: .*permission denied \(this verb needs root\)$/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.exitCode).toBe(1);
  });
});
