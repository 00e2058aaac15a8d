import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { startTrio, type RecipeProcess } from './processes.js'

/** A seeded Fisher-Yates shuffle of a copy of `items`. */
const shuffled = <T>(random: prng.PRNG, items: readonly T[]): T[] => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.int32(random, 0, i)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

describe('claims across processes', () => {
  it('3 processes claim the same items at once as their first lease call, without enableLeases: each item claimed exactly once', async () => {
    const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))
    console.log(`first claims: MESH_SEED=${String(seed)}`)
    const random = prng.create(seed)
    const nodes = await startTrio({ MESH_ENABLE_LEASES: '0' })
    const items = Array.from({ length: 12 }, (_, i) => `item-${String(i)}`)
    // Each process claims every item, in its own seeded order, all at once. A claim that failed
    // (a timeout on a loaded machine) is asked again, as a worker would: claims are idempotent.
    const claimOn = async (p: RecipeProcess, item: string) => {
      for (let attempt = 0; ; attempt++) {
        const res = await p.http<{ token?: number; error?: string }>(`/claim/jobs/${item}`, { method: 'POST' })
        if (res.status === 200 || res.status === 409 || attempt === 2) return { item, node: p.name, ...res }
      }
    }
    const replies = await Promise.all(nodes.flatMap((p) => shuffled(random, items).map((item) => claimOn(p, item))))
    expect(replies.filter((r) => r.status !== 200 && r.status !== 409)).toEqual([])
    const winners = new Map<string, string[]>()
    for (const r of replies) if (r.status === 200) winners.set(r.item, [...(winners.get(r.item) ?? []), r.node])
    expect(Object.fromEntries(winners), `MESH_SEED=${String(seed)}`).toEqual(
      Object.fromEntries(items.map((item) => [item, [expect.any(String)]])),
    )
  }, 60_000)
})
