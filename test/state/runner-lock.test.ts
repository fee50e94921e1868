// The runner lock: one runner per device, stale owners (dead, or from an earlier boot) taken over, waiting for a live one.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { acquireRunnerLock, lockOwnerAlive, waitForRunnerLock } from '../../src/state/runner-lock.js';

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

describe('stale lock takeover under contention', () => {
  // Each contender takes the lock, checks it is alone (an exclusive marker file), then dies holding it: every lock after
  // the first is a dead owner's, and the remaining contenders race to take it over at once — as the daemon and the
  // boot-time confirm do after a power cut. Two holders at once, or a crash on the race (ENOENT), fail the test.
  const script = `
    import { acquireRunnerLock } from ${JSON.stringify(new URL('../../dist/src/state/runner-lock.js', import.meta.url).href)};
    import { openSync, closeSync, unlinkSync } from 'node:fs';
    const [dir, go] = process.argv.slice(1);
    while (Date.now() < Number(go)) {}
    for (;;) {
      try {
        acquireRunnerLock(dir);
        break;
      } catch (err) {
        if (err.code !== 'E_LOCKED') { console.error('CRASH', err.code, err.message); process.exit(3); }
      }
    }
    try { closeSync(openSync(dir + '/holder', 'wx')); } catch { console.error('DOUBLE'); process.exit(2); }
    const until = Date.now() + 15; while (Date.now() < until) {}
    unlinkSync(dir + '/holder');
    process.exit(0); // dies holding the lock
  `;
  it('never has two holders and never crashes, over several rounds of contenders', async () => {
    const { execa } = await import('execa');
    // Half the rounds start together, half as the processes come up (the two caught different windows of the old code).
    for (let round = 0; round < 6; round++) {
      const dir = mkdtempSync(join(tmpdir(), 'ua-lock-race-'));
      const go = String(round % 2 === 0 ? Date.now() + 1500 : 0);
      const runs = Array.from({ length: 8 }, () => execa('node', ['--input-type=module', '-e', script, dir, go], { reject: false }));
      const results = await Promise.all(runs);
      for (const r of results) expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 0, err: '' });
    }
  }, 60_000);
});
