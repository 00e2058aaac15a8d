// `npm run soak [-- --minutes N --rate WRITES_PER_S --max-slope MIB_PER_MIN --warmup S --seed N]`:
// builds, then runs the soak (e2e/soak/soak.run.ts): 3 mesh serve processes, 2,000 REST writes/s
// by default (hot keys overwritten, some TTL, some deletes), light peers joining, writing
// through YKeyValue and leaving, for 10 minutes. Prints the live heap per minute per node and
// the writes acknowledged and lost; fails on a live-heap slope above 0.1 MiB/min after warm-up,
// on a lost acknowledged write, on a rate it could not offer, or on leaked light peers,
// awareness states or rooms. Not part of `npm test`.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = fileURLToPath(new URL('..', import.meta.url))
const { values } = parseArgs({
  options: {
    minutes: { type: 'string' },
    rate: { type: 'string' },
    'max-slope': { type: 'string' },
    warmup: { type: 'string' },
    seed: { type: 'string' },
  },
})
const env = { ...process.env, MESH_SOAK_MINUTES: values.minutes ?? process.env.MESH_SOAK_MINUTES ?? '10' }
if (values.rate) env.MESH_SOAK_RATE = values.rate
if (values['max-slope']) env.MESH_SOAK_MAX_SLOPE = values['max-slope']
if (values.warmup) env.MESH_SOAK_WARMUP_S = values.warmup
if (values.seed) env.MESH_SEED = values.seed

const run = (args) => spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' }).status ?? 1
const built = run([fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-b'])
if (built !== 0) process.exit(built)
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url))
process.exit(run([vitest, 'run', '--config', 'e2e/soak/vitest.config.ts']))
