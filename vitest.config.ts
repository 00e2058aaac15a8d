import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: [
      '*/test/**/*.test.ts',
      'adapters/*/test/**/*.test.ts',
      'backbone/*/test/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
      'e2e/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
})
