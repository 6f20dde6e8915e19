import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration files each get their own database schema, queue prefix and
    // directories, so they may run side by side; two cores make two workers enough.
    maxWorkers: 2,
  },
});
