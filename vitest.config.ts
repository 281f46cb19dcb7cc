import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['__test__/**/*.test.ts'],
    // Real processes on a 2-core machine: run the files one after another, each in its own
    // process (like a real Node program, with SIGCHLD on its main thread).
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
