import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: whole-mesh tests start several processes each; keep files from starving each other.
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
