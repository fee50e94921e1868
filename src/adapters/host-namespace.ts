// The launcher's private mount namespace (a read-only /host made writable there): what runs outside it, and how.
import { readlinkSync } from 'node:fs';

/** Set by /usr/bin/upgradectl (packaging/upgradectl) to the mount it made writable in this process's own namespace. */
export const HOST_NS_ENV = 'UPGRADE_AGENT_HOST_NS';
/** The descriptor on which the launcher keeps the system's mount namespace open (opened before its `unshare`). */
export const SYSTEM_NS_FD_ENV = 'UPGRADE_AGENT_SYSTEM_NS_FD';

/**
 * The command zfs runs under: `nsenter` into the system's mount namespace when this process runs in the launcher's
 * own. zfs-fuse's `zfs umount` unmounts in the caller's namespace while its daemon mounted in the system's, so from a
 * private namespace an export clone would stay mounted (busy) for ever; OpenZFS's mounts would be invisible outside.
 * The namespace is the one the launcher was started in, kept open on a descriptor; PID 1's when that is missing.
 */
export function zfsVia(env: NodeJS.ProcessEnv, pid: number, readLink: (p: string) => string = readlinkSync): readonly string[] {
  if (!env[HOST_NS_ENV]) return [];
  const fd = env[SYSTEM_NS_FD_ENV];
  let target = '/proc/1/ns/mnt';
  if (fd && /^\d+$/.test(fd)) {
    const path = `/proc/${pid}/fd/${fd}`;
    try {
      if (readLink(path).startsWith('mnt:')) target = path;
    } catch {
      // Closed: PID 1's namespace is the system's on a device.
    }
  }
  return ['nsenter', `--mount=${target}`, '--'];
}
