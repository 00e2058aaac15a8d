import type { MeshNode } from '@mesh/core'
import { LEASE_CAPABILITY, lease, TOKEN_BLOCK, claim } from '@mesh/recipes'
import { waitUntil } from '@mesh/core/testing'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { allDeclare, startCluster, startNode } from './helpers.js'

describe('lease', () => {
  const seed = Number(process.env.MESH_SEED ?? Date.now() % 100_000)
  it(`3 nodes race for one lease 1,000 times: one holder at a time, tokens strictly increasing (seed ${seed})`, async () => {
    const gen = prng.create(seed)
    const random = () => prng.real53(gen)
    const nodes = await startCluster(3)
    const leases = nodes.map((node) => lease(node, 'race', { ttlMs: 10_000 }))
    await allDeclare(nodes, LEASE_CAPABILITY)
    const tokens: number[] = []
    const wins = [0, 0, 0]
    let holding: number | undefined
    const racer = async (i: number) => {
      while (tokens.length < 1000) {
        const grant = await leases[i]!.acquire()
        if (grant) {
          expect(holding, `node ${i} granted while node ${String(holding)} holds it`).toBeUndefined()
          holding = i
          tokens.push(grant.token)
          wins[i]!++
          // Hold it for a random number of turns, so every node gets to win.
          for (let k = Math.floor(random() * 3); k > 0; k--) await new Promise(setImmediate)
          holding = undefined
          await leases[i]!.release()
        }
        for (let k = Math.floor(random() * 3); k > 0; k--) await new Promise(setImmediate)
      }
    }
    await Promise.all([0, 1, 2].map(racer))
    for (let k = 1; k < tokens.length; k++) expect(tokens[k]).toBeGreaterThan(tokens[k - 1]!)
    // One owner throughout: tokens grow by one per grant.
    expect(tokens.slice(0, 1000)).toEqual(Array.from({ length: 1000 }, (_, k) => k + 1))
    expect(wins.filter((w) => w > 0).length, `wins per node ${wins.join()}`).toBeGreaterThan(1)
  }, 120_000)

  it('renews, refuses a renew after the grant was lost, and lets another take it after the TTL', async () => {
    const [a, b] = await startCluster(2)
    const la = lease(a!, 'ttl', { ttlMs: 200 })
    const lb = lease(b!, 'ttl', { ttlMs: 200 })
    await allDeclare([a!, b!], LEASE_CAPABILITY)
    const first = await la.acquire()
    expect(first).toBeDefined()
    expect(await lb.acquire()).toBeUndefined()
    expect(await la.renew()).toBe(true)
    const second = await waitUntil('b acquires after the TTL', () => lb.acquire(), { intervalMs: 50 })
    expect(second.token).toBeGreaterThan(first!.token)
    expect(await la.renew()).toBe(false)
    expect(la.grant).toBeUndefined()
  })

  it('frees the lease when the holder node leaves or dies, before any TTL', async () => {
    const [a, b, c] = await startCluster(3)
    const leases = [a!, b!, c!].map((n) => lease(n, 'death')) // no TTL: held until release or death
    await allDeclare([a!, b!, c!], LEASE_CAPABILITY)
    const owner = a!.ownerOf(LEASE_CAPABILITY, 'death')!.id
    // The holder is a node that does not own the lease, so the owner outlives it.
    const i = [a!, b!, c!].findIndex((n) => n.id !== owner)
    const grant = await leases[i]!.acquire()
    expect(grant).toBeDefined()
    const other = [0, 1, 2].find((j) => j !== i)!
    expect(await leases[other]!.acquire()).toBeUndefined()
    await [a!, b!, c!][i]!.close()
    const next = await waitUntil('another node acquires once the holder left', () => leases[other]!.acquire(), {
      intervalMs: 50,
    })
    expect(next.token).toBeGreaterThan(grant!.token)
  })

  it('a new owner after the owner dies issues tokens above every token issued before', async () => {
    const nodes = await startCluster(3)
    const leases = nodes.map((node) => lease(node, 'moving', { ttlMs: 60_000 }))
    await allDeclare(nodes, LEASE_CAPABILITY)
    const ownerIndex = nodes.findIndex((n) => n.id === nodes[0]!.ownerOf(LEASE_CAPABILITY, 'moving')!.id)
    const client = leases[(ownerIndex + 1) % 3]!
    let highest = 0
    for (let k = 0; k < 5; k++) {
      highest = (await client.acquire())!.token
      await client.release()
    }
    await nodes[ownerIndex]!.close()
    const survivor = leases[(ownerIndex + 2) % 3]!
    const grant = await waitUntil('a new owner grants the lease', () => survivor.acquire(), { intervalMs: 50 })
    expect(grant.token).toBeGreaterThan(highest)
    // The old owner had reserved a block on a peer before issuing; the new one starts above it.
    expect(grant.token).toBeGreaterThan(TOKEN_BLOCK)
  })

  it('claims a work item for exactly one node, idempotently, and frees it on release', async () => {
    const nodes = await startCluster(3)
    // Declaring the capability before the race: claim() declares it on first use.
    for (const node of nodes) lease(node, 'warm-up')
    await allDeclare(nodes, LEASE_CAPABILITY)
    const results = await Promise.all(nodes.map((node) => claim(node, 'emails', 'msg-1')))
    const winners = results.filter((r) => r.claimed)
    expect(winners).toHaveLength(1)
    const winner = results.findIndex((r) => r.claimed)
    const again = await claim(nodes[winner]!, 'emails', 'msg-1')
    expect(again).toMatchObject({ claimed: true, token: (winners[0] as { token: number }).token })
    const loser = results.find((r) => !r.claimed)
    expect(loser).toMatchObject({ claimed: false, holder: { node: nodes[winner]!.id } })
    if (again.claimed) await again.release()
    const other = nodes[(winner + 1) % 3]!
    expect(await claim(other, 'emails', 'msg-1')).toMatchObject({ claimed: true })
  })

  it('a release while an acquire is on its way releases what the acquire gets; queue and item never share a name', async () => {
    const nodes = await startCluster(2)
    for (const node of nodes) lease(node, 'warm-up')
    await allDeclare(nodes, LEASE_CAPABILITY)
    const [a, b] = nodes as [MeshNode, MeshNode]
    const mine = lease(a, 'raced')
    const acquiring = mine.acquire()
    await mine.release()
    await acquiring
    expect(await lease(b, 'raced').acquire()).toBeDefined()
    expect(mine.grant).toBeUndefined()
    // 'emails:eu' / '7' and 'emails' / 'eu:7' are two items.
    expect(await claim(a, 'emails:eu', '7')).toMatchObject({ claimed: true })
    expect(await claim(b, 'emails', 'eu:7')).toMatchObject({ claimed: true })
  })

  it(`nodes that never declared mesh.lease claim the same items at once: each item claimed once, 3 fresh clusters (seed ${seed})`, async () => {
    const gen = prng.create(seed)
    for (let round = 0; round < 3; round++) {
      const nodes = await startCluster(3)
      const items = Array.from({ length: 8 }, (_, i) => `item-${String(i)}`)
      const results = await Promise.all(
        nodes.flatMap((node) =>
          items
            .map((item) => ({ item, order: prng.real53(gen) }))
            .sort((x, y) => x.order - y.order)
            .map(async ({ item }) => ({ item, result: await claim(node, 'jobs', item) })),
        ),
      )
      const winners = new Map<string, number>()
      for (const { item, result } of results) if (result.claimed) winners.set(item, (winners.get(item) ?? 0) + 1)
      expect(Object.fromEntries(winners), `round ${String(round)}, MESH_SEED=${String(seed)}`).toEqual(
        Object.fromEntries(items.map((item) => [item, 1])),
      )
    }
  })

  it('works on a single node without peers', async () => {
    const { node } = await startNode()
    const l = lease(node, 'solo', { ttlMs: 1000 })
    expect((await l.acquire())?.token).toBe(1)
    await l.release()
    expect((await l.acquire())?.token).toBe(2)
  })
})
