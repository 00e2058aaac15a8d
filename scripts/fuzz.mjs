// `npm run fuzz [-- --frames N --seed N --skip family,family]`: builds, then runs the long
// fuzzing run of e2e/fuzz.test.ts (default 100k frames) against real mesh serve processes and
// prints its figures. Family names are listed in e2e/fuzz-frames.ts.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = fileURLToPath(new URL('..', import.meta.url))
const { values } = parseArgs({
  options: { seed: { type: 'string' }, frames: { type: 'string' }, skip: { type: 'string' } },
})
const env = { ...process.env, MESH_FUZZ: 'long' }
if (values.seed) env.MESH_SEED = values.seed
if (values.frames) env.MESH_FUZZ_FRAMES = values.frames
if (values.skip) env.MESH_FUZZ_SKIP = values.skip

const run = (args) => spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' }).status ?? 1
const built = run([fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-b'])
if (built !== 0) process.exit(built)
process.exit(
  run([fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url)), 'run', 'e2e/fuzz.test.ts']),
)
