// One runner per device: a lock file in the state dir naming its owner (pid and boot id); dead owners' locks are taken over.
import { readFileSync, unlinkSync, mkdirSync, existsSync, linkSync, writeFileSync } from 'node:fs';
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

const enoent = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Removes the stale lock at `path` (its text `staleText`) — one process at a time. The daemon and the boot-time confirm
 * start together and may both find the same stale lock: a plain unlink by the slower one would delete the lock the
 * faster one has just taken, and both would run. So a takeover needs `<lock>.takeover`, created exclusively; under it
 * the lock is judged again (the stale text still there) before it goes. Whoever finds the takeover taken waits (E_LOCKED).
 */
function removeStale(path: string, staleText: string, bootId: string): void {
  const takeover = `${path}.takeover`;
  try {
    createWithText(takeover, `${process.pid} ${bootId}\n`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let owner: string | null = null;
    try {
      owner = readFileSync(takeover, 'utf8');
    } catch (e) {
      if (!enoent(e)) throw e;
    }
    // A takeover whose process died in it (a kill in a window of microseconds) would block everyone: clear it.
    if (owner !== null && !lockOwnerAlive(owner, bootId, alive)) unlinkQuiet(takeover);
    throw new StateError('E_LOCKED', `another upgradectl is taking over the stale runner lock ${path}`, { context: { lock: path } });
  }
  try {
    let now: string | null = null;
    try {
      now = readFileSync(path, 'utf8');
    } catch (e) {
      if (!enoent(e)) throw e;
    }
    if (now === staleText) unlinkSync(path);
  } finally {
    unlinkQuiet(takeover);
  }
}

/**
 * Creates `path` holding `text`, or fails with EEXIST, in one step: the text is written to a private file first and
 * linked into place. An exclusive create followed by a write would show the others an empty lock for a moment, which
 * reads as no owner at all (stale) — and was taken over.
 */
function createWithText(path: string, text: string): void {
  const mine = `${path}.${process.pid}`;
  writeFileSync(mine, text, { mode: 0o600 });
  try {
    linkSync(mine, path);
  } finally {
    unlinkQuiet(mine);
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

function takeLock(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, 'runner.lock');
  const bootId = currentBootId();
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      createWithText(path, `${process.pid} ${bootId}\n`);
      return () => unlinkQuiet(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (e) {
        if (enoent(e)) continue; // released (or removed as stale) between our open and our read
        throw e;
      }
      if (lockOwnerAlive(text, bootId, alive)) {
        const { pid } = parseLock(text);
        throw new StateError('E_LOCKED', `another upgradectl (pid ${pid}) is working on this device`, { context: { pid, lock: path } });
      }
      removeStale(path, text, bootId); // stale: its owner died (SIGKILL) or belonged to an earlier boot (power cut)
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
