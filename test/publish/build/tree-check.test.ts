// What a tree must hold to be built (kernel, initrd, agent), resolved inside the tree, and its dpkg package list.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkTree, parseDpkgStatus, statInTree } from '../../../src/publish/build/tree-check.js';
import { makeTree } from '../../support/root-tree.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'uab-tree-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const codeOf = (fn: () => void): string => {
  try {
    fn();
    return 'passed';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
};

describe('checkTree', () => {
  it('passes a tree with kernel, initrd and agent (through /lib → usr/lib)', () => {
    expect(codeOf(() => checkTree(makeTree(join(dir, 't'), { release: 1, files: 1 })))).toBe('passed');
  });

  it('refuses a missing kernel, a dangling initrd link, a missing agent unit', () => {
    const t = makeTree(join(dir, 't'), { release: 1, files: 1 });
    unlinkSync(join(t, 'boot/initrd.img-6.1.0'));
    expect(codeOf(() => checkTree(t))).toBe('E_BUILD_NO_KERNEL');
    const u = makeTree(join(dir, 'u'), { release: 1, files: 1 });
    unlinkSync(join(u, 'usr/lib/systemd/system/upgrade-agent-confirm.service'));
    expect(codeOf(() => checkTree(u))).toBe('E_BUILD_NO_AGENT');
    expect(codeOf(() => checkTree(join(dir, 'none')))).toBe('E_BUILD_TREE');
    writeFileSync(join(dir, 'file'), '');
    expect(codeOf(() => checkTree(join(dir, 'file')))).toBe('E_BUILD_TREE');
  });

  it("resolves an absolute symlink from the tree's root, never the build machine's", () => {
    const t = join(dir, 'abs');
    mkdirSync(join(t, 'boot'), { recursive: true });
    writeFileSync(join(t, 'boot/vmlinuz-x'), 'k');
    symlinkSync('/boot/vmlinuz-x', join(t, 'vmlinuz'));
    symlinkSync('/etc/hostname', join(t, 'initrd.img')); // exists on the build machine, not in the tree
    expect(statInTree(t, '/vmlinuz')?.isFile()).toBe(true);
    expect(statInTree(t, '/initrd.img')).toBeNull();
    symlinkSync('../../../../boot/vmlinuz-x', join(t, 'up'));
    expect(statInTree(t, '/up')?.isFile()).toBe(true); // `..` stops at the tree's root
  });
});

describe('parseDpkgStatus', () => {
  it('lists installed packages only, sorted, with version and architecture', () => {
    const text = [
      'Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13\n',
      'Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n',
      'Package: bash\nStatus: install ok installed\nPriority: required\nArchitecture: amd64\nVersion: 5.2.15-2+b2\nDescription: shell\n multi-line\n',
    ].join('\n');
    expect(parseDpkgStatus(text)).toEqual([
      { name: 'bash', version: '5.2.15-2+b2', architecture: 'amd64' },
      { name: 'zlib1g', version: '1:1.2.13', architecture: 'amd64' },
    ]);
  });
});
