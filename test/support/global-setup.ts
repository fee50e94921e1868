// Test-run setup: the suite uses the real zfs-fuse daemon; start it once if nobody did (CI's .ci/run does).
import { execFileSync, spawn } from 'node:child_process';

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
