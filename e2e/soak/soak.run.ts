/**
 * Soak (issue 8, item 7), not part of `npm test`: run it with `npm run soak [-- --minutes N]`
 * (MESH_SOAK_MINUTES, default 10; MESH_SOAK_RATE writes/s; MESH_SOAK_LIGHT most light peers at
 * once, 0 for none; MESH_SOAK_LIGHT_WRITES=0 keeps light peers from writing; MESH_SEED replays
 * the churn).
 */
import { afterAll, expect, it } from 'vitest'
import { stopAll } from '../harness.js'
import { formatSoakReport, runSoak } from './soak-engine.js'

const minutes = Number(process.env.MESH_SOAK_MINUTES ?? 10)
const rate = Number(process.env.MESH_SOAK_RATE ?? 20)
const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))
if (!(minutes > 0) || !(rate > 0) || !Number.isSafeInteger(seed)) {
  throw new Error('MESH_SOAK_MINUTES and MESH_SOAK_RATE must be positive numbers, MESH_SEED a whole number')
}

afterAll(stopAll)

it(
  `3 nodes and churning light peers for ${minutes} min leak no heap, sockets, awareness or rooms (seed ${seed})`,
  async () => {
    const report = await runSoak({
      minutes,
      seed,
      writesPerSecond: rate,
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
