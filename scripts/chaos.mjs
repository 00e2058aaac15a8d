// `npm run chaos [-- --seed N --rounds R --steps S]`: builds, then runs the long chaos
// convergence run of e2e/chaos.test.ts (5 mesh serve processes; unique, hot, TTL and
// ephemeral keys; faults, kills, pauses past the failure bound, heals) and prints its schedule
// and figures. Defaults: 12 rounds of 150 steps, a random seed (printed; --seed or MESH_SEED
// replays it).
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = fileURLToPath(new URL('..', import.meta.url))
const { values } = parseArgs({
  options: { seed: { type: 'string' }, rounds: { type: 'string' }, steps: { type: 'string' } },
})
const env = { ...process.env, MESH_CHAOS: 'long' }
if (values.seed) env.MESH_SEED = values.seed
if (values.rounds) env.MESH_CHAOS_ROUNDS = values.rounds
if (values.steps) env.MESH_CHAOS_STEPS = values.steps

const run = (args) => spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' }).status ?? 1
const built = run([fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-b'])
if (built !== 0) process.exit(built)
process.exit(
  run([fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url)), 'run', 'e2e/chaos.test.ts']),
)
