// Pre-flight inside an image: boot files inside an image root (symlinks confined).
import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInRoot, checkBootFiles } from '../../src/steps/preflight.js';

describe('boot files inside an image', () => {
  it('follows symlinks the way the image sees them, never out of it', () => {
    const root = mkdtempSync(join(tmpdir(), 'ua-pf-root-'));
    mkdirSync(join(root, 'boot'));
    writeFileSync(join(root, 'boot', 'vmlinuz-6.1'), 'kernel');
    writeFileSync(join(root, 'boot', 'initrd.img-6.1'), 'initrd');
    symlinkSync('boot/vmlinuz-6.1', join(root, 'vmlinuz'));
    symlinkSync('/boot/initrd.img-6.1', join(root, 'initrd.img'));
    expect(resolveInRoot(root, '/vmlinuz')).toBe(join(root, 'boot/vmlinuz-6.1'));
    expect(resolveInRoot(root, '/initrd.img')).toBe(join(root, 'boot/initrd.img-6.1'));
    expect(() => checkBootFiles(root)).not.toThrow();
    symlinkSync('../../../../etc/hostname', join(root, 'escape'));
    expect(resolveInRoot(root, '/escape')).toBeNull();
  });
  it('refuses a missing or empty kernel', () => {
    const root = mkdtempSync(join(tmpdir(), 'ua-pf-root-'));
    writeFileSync(join(root, 'vmlinuz'), '');
    writeFileSync(join(root, 'initrd.img'), 'x');
    expect(() => checkBootFiles(root)).toThrow(/vmlinuz/);
    expect(() => checkBootFiles(root, ['/initrd.img', '/nope'])).toThrow(/nope/);
  });
});
