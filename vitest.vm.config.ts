// The real-boot suite (npm run e2e): QEMU boots of the appliance, one at a time, in the order the scenarios build on.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The real boots, and the package's install tests on Debian chroots (mmdebstrap: network, minutes).
    include: ['test/package/**/*.test.ts', 'test/vm/**/*.test.ts'],
    testTimeout: 60 * 60_000,
    hookTimeout: 60 * 60_000,
    fileParallelism: false,
    pool: 'forks',
    sequence: { concurrent: false },
    globalSetup: ['test/support/global-setup.ts'],
  },
});
