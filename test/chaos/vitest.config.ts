import { defineConfig } from 'vitest/config';

// `pnpm chaos`: the long scenarios (each over a minute on two busy cores), one file at a time, plus the
// short ones that also run in `pnpm test`. test/chaos/report.mjs then writes docs/reliability.md.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/chaos/**/*.chaos.ts', 'test/chaos/**/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
