// `npm run soak [-- --minutes N --rate WRITES_PER_S --seed N]`: builds, then runs the soak
// (e2e/soak/soak.run.ts): 3 mesh serve processes, steady writes, light peers joining and
// leaving; prints heap over time per node and fails on a heap slope above 1 MiB/min after
// warm-up or on leaked light peers, awareness states or rooms. Not part of `npm test`.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = fileURLToPath(new URL('..', import.meta.url))
const { values } = parseArgs({
  options: { minutes: { type: 'string' }, rate: { type: 'string' }, seed: { type: 'string' } },
})
const env = { ...process.env, MESH_SOAK_MINUTES: values.minutes ?? process.env.MESH_SOAK_MINUTES ?? '10' }
if (values.rate) env.MESH_SOAK_RATE = values.rate
if (values.seed) env.MESH_SEED = values.seed

const run = (args) => spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' }).status ?? 1
const built = run([fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-b'])
if (built !== 0) process.exit(built)
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url))
process.exit(run([vitest, 'run', '--config', 'e2e/soak/vitest.config.ts']))
