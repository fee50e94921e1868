// The migrate glob matcher, pure: `*` within a segment, `**` across segments, deny by ancestor, bad patterns.
import { describe, expect, it } from 'vitest';
import { couldMatchBelow, deniedBy, globMatch, literalPrefix, parsePattern } from '../../src/steps/migrate-glob.js';

describe('globMatch', () => {
  it('literal paths match only themselves (a trailing slash is ignored)', () => {
    expect(globMatch('/etc/hostname', '/etc/hostname')).toBe(true);
    expect(globMatch('/etc/hostname/', '/etc/hostname')).toBe(true);
    expect(globMatch('/etc/hostname', '/etc/hostnames')).toBe(false);
    expect(globMatch('/etc/hostname', '/etc')).toBe(false);
    expect(globMatch('/etc', '/etc/hostname')).toBe(false); // recursion is the walker's job, not the matcher's
    expect(parsePattern('/etc/hostname').literal).toBe(true);
  });

  it('`*` matches within one segment, including empty runs and dot-names, never across a slash', () => {
    const p = '/etc/ssh/ssh_host_*_key*';
    for (const ok of ['ed25519', 'rsa', 'ecdsa']) {
      expect(globMatch(p, `/etc/ssh/ssh_host_${ok}_key`)).toBe(true);
      expect(globMatch(p, `/etc/ssh/ssh_host_${ok}_key.pub`)).toBe(true);
    }
    expect(globMatch(p, '/etc/ssh/ssh_host__key')).toBe(true);
    expect(globMatch(p, '/etc/ssh/sshd_config')).toBe(false);
    expect(globMatch(p, '/etc/ssh/ssh_host_a/b_key')).toBe(false);
    expect(globMatch('/etc/*', '/etc/.hidden')).toBe(true);
    expect(globMatch('/etc/*', '/etc/a/b')).toBe(false);
    expect(parsePattern(p).literal).toBe(false);
  });

  it('`**` matches zero or more whole segments', () => {
    const p = '/etc/**/*.conf';
    expect(globMatch(p, '/etc/top.conf')).toBe(true);
    expect(globMatch(p, '/etc/app/app.conf')).toBe(true);
    expect(globMatch(p, '/etc/app/sub/deep.conf')).toBe(true);
    expect(globMatch(p, '/etc/app/sub/deep.conf.bak')).toBe(false);
    expect(globMatch(p, '/var/app.conf')).toBe(false);
    expect(globMatch('/etc/**', '/etc')).toBe(true);
    expect(globMatch('/etc/**', '/etc/a/b/c')).toBe(true);
    expect(globMatch('/**/x', '/x')).toBe(true);
    expect(globMatch('/a/**/b/**/c', '/a/b/c')).toBe(true);
    expect(globMatch('/a/**/b/**/c', '/a/1/b/2/3/c')).toBe(true);
    expect(globMatch('/a/**/b/**/c', '/a/1/2/3/c')).toBe(false);
  });

  it('regex metacharacters in names are literal', () => {
    expect(globMatch('/etc/a.b+(c)[d]', '/etc/a.b+(c)[d]')).toBe(true);
    expect(globMatch('/etc/a.b', '/etc/axb')).toBe(false);
    expect(globMatch('/etc/$x^', '/etc/$x^')).toBe(true);
  });

  it('many `**` stay fast (memoized)', () => {
    const p = parsePattern(`/${'**/'.repeat(30)}z`);
    const path = `/${'a/'.repeat(60)}y`;
    const t = Date.now();
    expect(globMatch(p, path)).toBe(false);
    expect(Date.now() - t).toBeLessThan(1000);
  });
});

describe('pattern validation', () => {
  it.each(['etc/hostname', '', '/', '//', '/etc/../shadow', '/etc/./x', '/etc//x', '/..', '/etc/\0x'])('rejects %j with E_MIGRATE_PATH', (p) => {
    expect(() => parsePattern(p)).toThrow(expect.objectContaining({ code: 'E_MIGRATE_PATH' }));
  });

  it('accepts names that merely contain dots', () => {
    expect(() => parsePattern('/etc/..hidden/...')).not.toThrow();
  });
});

describe('walk helpers', () => {
  it('literalPrefix stops at the first wildcard', () => {
    expect(literalPrefix(parsePattern('/etc/**/*.conf'))).toBe('/etc');
    expect(literalPrefix(parsePattern('/etc/ssh/ssh_host_*'))).toBe('/etc/ssh');
    expect(literalPrefix(parsePattern('/*/x'))).toBe('/');
    expect(literalPrefix(parsePattern('/etc/hostname'))).toBe('/etc/hostname');
  });

  it('couldMatchBelow prunes subtrees that cannot match', () => {
    const ssh = parsePattern('/etc/ssh/ssh_host_*');
    expect(couldMatchBelow(ssh, '/etc')).toBe(true);
    expect(couldMatchBelow(ssh, '/etc/ssh')).toBe(true);
    expect(couldMatchBelow(ssh, '/etc/app')).toBe(false);
    expect(couldMatchBelow(ssh, '/etc/ssh/ssh_host_dir')).toBe(false); // matches itself; nothing below can
    const conf = parsePattern('/etc/**/*.conf');
    expect(couldMatchBelow(conf, '/etc/a/b/c')).toBe(true);
    expect(couldMatchBelow(conf, '/var')).toBe(false);
  });

  it('deniedBy matches the path or any ancestor and names the pattern', () => {
    const deny = ['/etc/shadow', '/etc/ssh/*_key', '/var/**/secret'].map(parsePattern);
    expect(deniedBy(deny, '/etc/shadow')).toBe('/etc/shadow');
    expect(deniedBy(deny, '/etc/ssh/ssh_host_rsa_key')).toBe('/etc/ssh/*_key');
    expect(deniedBy(deny, '/etc/ssh/ssh_host_rsa_key.pub')).toBeNull();
    expect(deniedBy(deny, '/var/lib/secret/inner/file')).toBe('/var/**/secret');
    expect(deniedBy(deny, '/etc/shadowx')).toBeNull();
    expect(deniedBy([], '/etc/shadow')).toBeNull();
  });
});
