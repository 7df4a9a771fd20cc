import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['__tests__/**/*.test.ts'],
    // Each test file runs with its own HOME, DOCKER_CONFIG and XDG dirs and no proxy variables.
    setupFiles: ['__tests__/helpers/hermetic-env.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start registries and child processes, and spend much of their time waiting on them: three
    // workers keep the two cores CI has busy (the suite takes about 75 s here, against 120 s with two).
    pool: 'forks',
    maxWorkers: 3,
    minWorkers: 1,
  },
});
