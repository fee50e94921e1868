// Test-run setup: the suite uses the real zfs-fuse daemon; start it once if nobody did (CI's .ci/run does).
import { ensureZfsFuse } from '../../src/sandbox/pools.js';

export default async function setup(): Promise<void> {
  await ensureZfsFuse();
}
