// Vitest inside the OpenZFS guest (test/vm/openzfs/openzfs.spec.ts copies the project there): the guest's tests only.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/vm/openzfs/guest/**/*.guest.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
