import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['__tests__/**/*.test.ts'],
    // Each test file runs with its own HOME, DOCKER_CONFIG and XDG dirs and no proxy variables.
    setupFiles: ['__tests__/helpers/hermetic-env.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start registries and child processes; two cores are all CI has.
    pool: 'forks',
    maxWorkers: 2,
    minWorkers: 1,
  },
});
