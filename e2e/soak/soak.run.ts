/**
 * Soak (issue 8, item 7; issue 14, item 5), not part of `npm test`: run it with
 * `npm run soak [-- --minutes N --rate N]` (MESH_SOAK_MINUTES, default 10; MESH_SOAK_RATE REST
 * writes/s over the 3 nodes, default 2,000; MESH_SOAK_MAX_SLOPE live-heap slope allowed after
 * warm-up, MiB/min, default 0.1; MESH_SOAK_WARMUP_S warm-up, default 120 s or 20 % of the run;
 * MESH_SOAK_LIGHT most light peers at once, 0 for none; MESH_SOAK_LIGHT_WRITES=0 keeps light
 * peers from writing; MESH_SEED replays the churn).
 */
import { afterAll, expect, it } from 'vitest'
import { stopAll } from '../harness.js'
import { formatSoakReport, runSoak } from './soak-engine.js'

const minutes = Number(process.env.MESH_SOAK_MINUTES ?? 10)
const rate = Number(process.env.MESH_SOAK_RATE ?? 2000)
const maxSlope = Number(process.env.MESH_SOAK_MAX_SLOPE ?? 0.1)
const warmupS = process.env.MESH_SOAK_WARMUP_S === undefined ? undefined : Number(process.env.MESH_SOAK_WARMUP_S)
const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))
if (!(minutes > 0) || !(rate > 0) || !(maxSlope > 0) || !Number.isSafeInteger(seed)) {
  throw new Error(
    'MESH_SOAK_MINUTES, MESH_SOAK_RATE and MESH_SOAK_MAX_SLOPE must be positive numbers, MESH_SEED a whole number',
  )
}
if (warmupS !== undefined && !(warmupS >= 0 && warmupS < minutes * 60)) {
  throw new Error('MESH_SOAK_WARMUP_S must be at least 0 and shorter than the run')
}

afterAll(stopAll)

it(
  `3 nodes at ${rate} writes/s with churning light peers for ${minutes} min lose no acknowledged write and leak no heap, sockets, awareness or rooms (seed ${seed})`,
  async () => {
    const report = await runSoak({
      minutes,
      seed,
      writesPerSecond: rate,
      maxSlopeMiBPerMin: maxSlope,
      warmupMs: warmupS === undefined ? undefined : warmupS * 1000,
      maxLightPeers: process.env.MESH_SOAK_LIGHT === undefined ? undefined : Number(process.env.MESH_SOAK_LIGHT),
      lightWrites: process.env.MESH_SOAK_LIGHT_WRITES !== '0',
      log: (line) => console.log(line),
    })
    const text = formatSoakReport(report)
    console.log(text)
    expect(report.violations, text).toEqual([])
  },
  minutes * 60_000 + 120_000,
)
