// The OpenZFS guest suite alone (QEMU under TCG, a dkms build on a cold cache): never part of npm test or npm run e2e.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/vm/openzfs/openzfs.spec.ts'],
    testTimeout: 60 * 60_000,
    hookTimeout: 90 * 60_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
