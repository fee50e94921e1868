// One runner per device: a lock file in the state dir naming its owner (pid and boot id); dead owners' locks are taken over.
import { openSync, writeSync, closeSync, readFileSync, unlinkSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { StateError, isPermissionDenied } from '../errors.js';

const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function currentBootId(): string {
  return existsSync(BOOT_ID_FILE) ? readFileSync(BOOT_ID_FILE, 'utf8').trim() : '';
}

/**
 * Whether the lock's owner still runs. The state dir outlives reboots and pids are reused: a pid written before a power
 * cut is often alive again after the next boot as another process, so a lock from another boot is stale whatever its pid.
 * Pure.
 */
export function lockOwnerAlive(text: string, bootId: string, isAlive: (pid: number) => boolean, self = process.pid): boolean {
  const { pid, bootId: lockBoot } = parseLock(text);
  if (!Number.isInteger(pid) || pid <= 0 || pid === self) return false;
  if (lockBoot !== undefined && lockBoot !== bootId) return false;
  return isAlive(pid);
}

/** The lock file's `pid bootid` (an older agent wrote the pid alone). Pure. */
function parseLock(text: string): { pid: number; bootId: string | undefined } {
  const [pidText, bootId] = text.trim().split(/\s+/);
  return { pid: Number(pidText), bootId };
}

function takeLock(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, 'runner.lock');
  const bootId = currentBootId();
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid} ${bootId}\n`);
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const text = readFileSync(path, 'utf8');
      if (lockOwnerAlive(text, bootId, alive)) {
        const { pid } = parseLock(text);
        throw new StateError('E_LOCKED', `another upgradectl (pid ${pid}) is working on this device`, { context: { pid, lock: path } });
      }
      unlinkSync(path); // stale: its owner died (SIGKILL) or belonged to an earlier boot (power cut)
    }
  }
  throw new StateError('E_LOCKED', `cannot take the runner lock ${path}`);
}

/** Takes the runner lock: E_LOCKED while a live runner holds it, E_PERMISSION when this user may not write the state dir. */
export function acquireRunnerLock(stateDir: string): () => void {
  try {
    return takeLock(stateDir);
  } catch (err) {
    if (!isPermissionDenied(err)) throw err;
    throw new StateError('E_PERMISSION', `cannot take the runner lock in ${stateDir}: permission denied (this verb needs root)`, {
      cause: err, context: { stateDir },
    });
  }
}

/**
 * Takes the lock, waiting while another live runner holds it (the boot-time confirm and the daemon start together).
 * `whileWaiting` runs before each retry; a non-null result ends the wait without the lock.
 */
export async function waitForRunnerLock<T>(
  stateDir: string,
  o: { timeoutMs: number; pollMs?: number; whileWaiting?: () => Promise<T | null>; onWait?: (err: StateError) => void },
): Promise<{ release: () => void } | { other: T }> {
  const until = Date.now() + o.timeoutMs;
  let told = false;
  for (;;) {
    try {
      return { release: acquireRunnerLock(stateDir) };
    } catch (err) {
      if (!(err instanceof StateError) || err.code !== 'E_LOCKED' || Date.now() >= until) throw err;
      if (!told) o.onWait?.(err);
      told = true;
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
    const other = (await o.whileWaiting?.()) ?? null;
    if (other !== null) return { other };
  }
}
