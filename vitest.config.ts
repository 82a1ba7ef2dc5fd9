import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['worker/test/**/*.test.ts', 'scripts/**/*.test.ts', 'shared/**/*.test.ts'],
    globalSetup: ['worker/test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The end-to-end files mostly wait on throttled links and rclone: run several at once
    // (vitest's default on a 2-core machine is one at a time).
    maxWorkers: 4,
  },
});
