/**
 * A lease owner's process paused (SIGSTOP) past the failure bound, then resumed (SIGCONT): on
 * resume it sees every other node silent for the whole pause, so it declares them dead and owns
 * every lease until their heartbeats reach it again. Meanwhile the others granted those leases.
 * The resumed node must not answer from its stale view in that gap.
 */
import { waitUntil } from '@mesh/core/testing'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { startTrio, waitForMembers, type ProcessMember, type RecipeProcess } from './processes.js'

interface ClaimReply {
  claimed: boolean
  token?: number
  node?: string
  holder?: { node: string; token: number } | null
  error?: string
}

const claimOn = (p: RecipeProcess, item: string) =>
  p.http<ClaimReply>(`/claim/jobs/${encodeURIComponent(item)}`, { method: 'POST' })

/** Waits until `p` lists member `id` as dead. */
const seesDead = (p: RecipeProcess, id: string) =>
  waitUntil(
    `${p.name} sees ${id} dead`,
    async () => (await p.http<ProcessMember[]>('/mesh/api/members')).body.find((m) => m.id === id)?.state === 'dead',
    { timeoutMs: 15_000 },
  )

describe('lease owner paused past the failure bound', () => {
  it('right after SIGCONT the resumed process grants none of the items the others claimed meanwhile', async () => {
    const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))
    console.log(`sigstop claims: MESH_SEED=${String(seed)}`)
    const random = prng.create(seed)
    const nodes = await startTrio({}, 'mesh.lease')
    // One that joined the first: the others close their links to it when they declare it dead,
    // and on resume it declares them dead too, so nothing it waits for on a resync is left.
    const paused = nodes[prng.uint32(random, 1, 2)]!
    const others = nodes.filter((p) => p !== paused)
    const pausedId = (await waitForMembers(others[0]!, 3)).find((m) => m.name === paused.name)!.id
    // Items the paused node claimed before its pause (its claims end with its life, as the
    // others see it), and items nobody claimed before.
    const early = Array.from({ length: prng.uint32(random, 0, 3) }, (_, i) => `early-${String(seed)}-${String(i)}`)
    const fresh = Array.from({ length: prng.uint32(random, 6, 9) }, (_, i) => `fresh-${String(seed)}-${String(i)}`)
    // A first claim may miss its deadline on a loaded machine: asked again (claims are idempotent).
    for (const item of early) {
      await waitUntil(`${paused.name} claims ${item}`, async () => (await claimOn(paused, item)).status === 200, {
        timeoutMs: 15_000,
      })
    }

    paused.signal('SIGSTOP')
    for (const p of others) await seesDead(p, pausedId)
    const tokens = new Map<string, number>()
    for (const item of [...early, ...fresh]) {
      const by = others[prng.uint32(random, 0, 1)]!
      const res = await waitUntil(
        `${by.name} claims ${item}`,
        async () => {
          const r = await claimOn(by, item)
          return r.status === 200 || r.status === 409 ? r : undefined
        },
        { timeoutMs: 15_000 },
      )
      expect(res.status, `${item} on ${by.name}, MESH_SEED=${String(seed)}`).toBe(200)
      tokens.set(item, res.body.token!)
    }

    paused.signal('SIGCONT')
    // At once, before its links are back: no item may be granted to it again.
    const replies = await Promise.all(
      [...tokens.keys()].map(async (item) => ({ item, ...(await claimOn(paused, item)) })),
    )
    const statuses = new Map<number, number>()
    for (const r of replies) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
    console.log(`right after SIGCONT, ${String(replies.length)} claims answered:`, Object.fromEntries(statuses))
    const granted = replies.filter((r) => r.status === 200)
    expect(granted, `double grants after SIGCONT, MESH_SEED=${String(seed)}`).toEqual([])

    // Once it is back, it answers with the others' grants.
    await waitForMembers(paused, 3)
    for (const [item, token] of tokens) {
      const res = await waitUntil(
        `${paused.name} answers ${item}`,
        async () => {
          const r = await claimOn(paused, item)
          return r.status === 409 ? r : undefined
        },
        { timeoutMs: 15_000 },
      )
      expect(res.body.holder?.token, `${item}, MESH_SEED=${String(seed)}`).toBe(token)
    }
  }, 90_000)
})
