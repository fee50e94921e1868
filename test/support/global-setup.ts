// Test-run setup: the suite uses the real zfs-fuse daemon; start it once if nobody did (CI's .ci/run does).
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';

function zfsFuseRunning(): boolean {
  try {
    execFileSync('pgrep', ['-x', 'zfs-fuse'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export default async function setup(): Promise<void> {
  if (zfsFuseRunning()) return;
  // A pid file or socket left by a zfs-fuse that died makes the new one exit at once.
  rmSync('/run/zfs-fuse.pid', { force: true });
  rmSync('/var/run/zfs/zfs_socket', { force: true });
  const child = spawn('zfs-fuse', ['-p', '/run/zfs-fuse.pid'], { stdio: 'ignore', detached: true });
  child.unref();
  for (let i = 0; i < 50; i++) {
    try {
      execFileSync('zpool', ['list'], { stdio: 'ignore' });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error('zfs-fuse did not start: install it (apt-get install zfs-fuse) and check /dev/fuse');
}
