// A zvol's block device appears when udev has made its /dev/zvol link, a moment after the zfs command returned: wait for it, with a deadline.
import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ZfsError } from '../errors.js';

export const zvolPath = (name: string): string => `/dev/zvol/${name}`;

/**
 * Resolves once `path` is a block device; polls from 10 ms, doubling to 250 ms, until `timeoutMs` has passed
 * (measured under TCG: the link follows `zfs create -V` by ~0.2 s and `snapdev=visible` by ~0.6 s).
 */
export async function waitForBlockDevice(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  let polls = 0;
  for (;;) {
    polls++;
    if (statSync(path, { throwIfNoEntry: false })?.isBlockDevice()) return;
    if (Date.now() + delay > deadline) {
      throw new ZfsError('E_ZVOL_DEVICE', `${path}: no block device after ${timeoutMs} ms (${polls} polls)`, {
        context: { path, timeoutMs, polls },
      });
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 250);
  }
}
