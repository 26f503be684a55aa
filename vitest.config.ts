import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // The three runtime suites run side by side; their tests run one at a time.
    fileParallelism: true,
    maxWorkers: 3,
  },
});
