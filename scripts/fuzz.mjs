// `npm run fuzz [-- --frames N --seed N --skip name,name]`: builds, then runs the long
// fuzzing run of e2e/fuzz.test.ts against real mesh serve processes: every campaign past the
// node's limits (sockets past maxConnections, rooms past maxRooms, values just under and over
// the size limits, floods and readers that never read), then 100k frames by default, and prints
// its figures with A's memory against the bytes the attackers sent. Family names are listed in
// e2e/fuzz-frames.ts, campaign names in CAMPAIGNS of e2e/fuzz-engine.ts; --skip takes both.
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
