// The runner lock: one runner per device, stale owners (dead, or from an earlier boot) taken over, waiting for a live one.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { acquireRunnerLock, lockOwnerAlive, waitForRunnerLock } from '../../src/daemon/lock.js';

const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

describe('lockOwnerAlive', () => {
  const alive = () => true;
  it('takes a lock written in another boot as stale even if its pid runs now (pids are reused after a power cut)', () => {
    expect(lockOwnerAlive('412 old-boot\n', 'this-boot', alive, 1)).toBe(false);
    expect(lockOwnerAlive('412 this-boot\n', 'this-boot', alive, 1)).toBe(true);
  });
  it('reads the older pid-only format, and never counts itself or garbage as an owner', () => {
    expect(lockOwnerAlive('412', 'this-boot', alive, 1)).toBe(true);
    expect(lockOwnerAlive('412 this-boot', 'this-boot', () => false, 1)).toBe(false);
    expect(lockOwnerAlive('1 this-boot', 'this-boot', alive, 1)).toBe(false);
    expect(lockOwnerAlive('', 'this-boot', alive, 1)).toBe(false);
  });
});

describe('acquireRunnerLock / waitForRunnerLock (real processes)', () => {
  it('refuses while a live process of this boot holds it, takes it over from a dead one or an earlier boot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ua-lock-'));
    const lock = join(dir, 'runner.lock');
    const holder = spawn('sleep', ['30']);
    try {
      writeFileSync(lock, `${holder.pid} ${bootId}\n`);
      expect(() => acquireRunnerLock(dir)).toThrow(expect.objectContaining({ code: 'E_LOCKED' }));
      writeFileSync(lock, `${holder.pid} another-boot\n`);
      const release = acquireRunnerLock(dir);
      expect(readFileSync(lock, 'utf8')).toBe(`${process.pid} ${bootId}\n`);
      release();
      expect(existsSync(lock)).toBe(false);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('waits until the holder exits, or ends the wait when another way opens; times out with E_LOCKED', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ua-lock-'));
    const lock = join(dir, 'runner.lock');
    const holder = spawn('sleep', ['1']);
    writeFileSync(lock, `${holder.pid} ${bootId}\n`);
    let waited = 0;
    const got = await waitForRunnerLock(dir, { timeoutMs: 10_000, pollMs: 100, onWait: () => waited++ });
    expect(waited).toBe(1);
    expect('release' in got).toBe(true);
    if ('release' in got) got.release();

    const holder2 = spawn('sleep', ['30']);
    try {
      writeFileSync(lock, `${holder2.pid} ${bootId}\n`);
      let polls = 0;
      const other = await waitForRunnerLock(dir, { timeoutMs: 10_000, pollMs: 50, whileWaiting: async () => (++polls === 3 ? 'daemon answered' : null) });
      expect(other).toEqual({ other: 'daemon answered' });
      await expect(waitForRunnerLock(dir, { timeoutMs: 200, pollMs: 50 })).rejects.toMatchObject({ code: 'E_LOCKED' });
    } finally {
      holder2.kill('SIGKILL');
    }
  });
});
