/**
 * Fuzzing (issue 8, item 3): 10k seeded garbage frames against a real `mesh serve` in
 * `npm test`; `npm run fuzz` sends 100k (MESH_FUZZ=long; MESH_FUZZ_FRAMES overrides) and
 * prints its figures. MESH_SEED=<seed> replays a run; MESH_FUZZ_SKIP=family,family leaves
 * families out (names in e2e/fuzz-frames.ts).
 */
import { afterAll, expect, it } from 'vitest'
import { formatFuzzReport, runFuzz } from './fuzz-engine.js'
import { stopAll } from './harness.js'

const long = process.env.MESH_FUZZ === 'long'
const envNumber = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a whole number; got "${raw}"`)
  return value
}
const seed = envNumber('MESH_SEED', Math.floor(Math.random() * 2 ** 31))
const frames = envNumber('MESH_FUZZ_FRAMES', long ? 100_000 : 10_000)
const skip = (process.env.MESH_FUZZ_SKIP ?? '').split(',').filter((s) => s !== '')

afterAll(stopAll)

it(
  `mesh serve survives ${frames} fuzzed frames and keeps honest data intact (seed ${seed})`,
  async () => {
    const report = await runFuzz({ seed, frames, skip, log: long ? (line) => console.log(line) : undefined })
    const summary = formatFuzzReport(report)
    console.log(summary)
    expect(report.violations, summary).toEqual([])
  },
  60_000 + frames * 20,
)
