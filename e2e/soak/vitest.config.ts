import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/** Runs only the soak (e2e/soak/*.run.ts), which `npm test` leaves out. */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['e2e/soak/**/*.run.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
