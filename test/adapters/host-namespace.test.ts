// zfsVia: zfs runs in the system's mount namespace only when the launcher made one of the agent's own.
import { describe, expect, it } from 'vitest';
import { HOST_NS_ENV, SYSTEM_NS_FD_ENV, zfsVia } from '../../src/adapters/host-namespace.js';

const links = (map: Record<string, string>) => (p: string): string => {
  const v = map[p];
  if (v === undefined) throw Object.assign(new Error(`ENOENT ${p}`), { code: 'ENOENT' });
  return v;
};

describe('zfsVia', () => {
  it('no namespace of its own: zfs as is', () => {
    expect(zfsVia({}, 42, links({}))).toEqual([]);
    expect(zfsVia({ [SYSTEM_NS_FD_ENV]: '9' }, 42, links({ '/proc/42/fd/9': 'mnt:[1]' }))).toEqual([]);
  });

  it('the launcher kept the system namespace open: nsenter into that descriptor', () => {
    const env = { [HOST_NS_ENV]: '/host', [SYSTEM_NS_FD_ENV]: '9' };
    expect(zfsVia(env, 42, links({ '/proc/42/fd/9': 'mnt:[4026531832]' }))).toEqual(['nsenter', '--mount=/proc/42/fd/9', '--']);
  });

  it('the descriptor closed, reused for something else, or not a number: PID 1 namespace', () => {
    const pid1 = ['nsenter', '--mount=/proc/1/ns/mnt', '--'];
    expect(zfsVia({ [HOST_NS_ENV]: '/host', [SYSTEM_NS_FD_ENV]: '9' }, 42, links({}))).toEqual(pid1);
    expect(zfsVia({ [HOST_NS_ENV]: '/host', [SYSTEM_NS_FD_ENV]: '9' }, 42, links({ '/proc/42/fd/9': '/var/log/x' }))).toEqual(pid1);
    expect(zfsVia({ [HOST_NS_ENV]: '/host', [SYSTEM_NS_FD_ENV]: '../9' }, 42, links({}))).toEqual(pid1);
    expect(zfsVia({ [HOST_NS_ENV]: '/host' }, 42, links({}))).toEqual(pid1);
  });
});
