// Test runner settings: real tools (zfs-fuse, HTTPS, SQLite) are slow and shared, so files run one at a time.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The real-boot suite has its own config and command (vitest.vm.config.ts, npm run e2e).
    exclude: ['test/vm/**', 'test/package/**', 'node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
  },
});
