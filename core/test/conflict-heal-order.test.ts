import type { ConflictPolicy, JsonValue, MeshNode } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { servedPerTest, type ServedNode } from './helpers.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))
const ROUNDS = 4
const SHARED = Array.from({ length: 6 }, (_, i) => `k${i}`)

type Topology = 'chain' | 'star' | 'full'

/** The edges of a topology over nodes in the order given. */
const edgesOf = (topology: Topology, order: number[]): Array<[number, number]> => {
  const edges: Array<[number, number]> = []
  if (topology === 'chain') for (let i = 1; i < order.length; i++) edges.push([order[i - 1]!, order[i]!])
  if (topology === 'star') for (let i = 1; i < order.length; i++) edges.push([order[0]!, order[i]!])
  if (topology === 'full') {
    for (let i = 0; i < order.length; i++) for (let j = i + 1; j < order.length; j++) edges.push([order[i]!, order[j]!])
  }
  return edges
}

const canonical = (node: MeshNode): string =>
  JSON.stringify(Object.entries(node.data.toJSON()).sort(([a], [b]) => (a < b ? -1 : 1)))

/** A copy of `items` in an order drawn from `gen`. */
const shuffle = <T>(gen: prng.PRNG, items: readonly T[]): T[] => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.int32(gen, 0, i)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** A value of the test's writes: who wrote it and a number unique to the write. */
interface Written {
  by: string
  n: number
}

const { start } = servedPerTest()

describe(`conflict policies under random heal orders and topologies, real sockets (MESH_SEED=${seed})`, () => {
  it("ends with equal replicas, no key lost, and every key an accept node wrote concurrently with another node's write holding that other node's value", async () => {
    const gen = prng.create(seed)
    const pick = (n: number) => prng.int32(gen, 0, n - 1)
    const count = 3 + pick(3)
    const policies = Array.from({ length: count }, (): ConflictPolicy => prng.oneOf(gen, ['accept', 'merge', 'warn']))
    // At least one node of each kind: accept, and one that does not yield.
    policies[0] = 'accept'
    if (!policies.some((p) => p !== 'accept')) policies[count - 1] = 'merge'
    const served: ServedNode[] = []
    for (let i = 0; i < count; i++) {
      served.push(
        await start({
          name: `n${i}`,
          onConflict: policies[i],
          // Partitions stay shorter than the failure bound: a cut healed after both sides judged each
          // other dead may never link again (see the report of this test's commit).
          membership: { heartbeatMs: 50, deadAfterMs: 5000 },
          antiEntropyMs: 100,
        }),
      )
    }
    const nodes = served.map((s) => s.node)
    // What apps do: write from a change listener, at once, and read their own write.
    for (const node of nodes) {
      node.on('change', (event) => {
        if (event.local || !event.keys.some((k) => k.startsWith('k'))) return
        node.data.set(`echo:${node.name}`, event.keys.length)
        if (node.get(`echo:${node.name}`) !== event.keys.length) throw new Error('read-your-write failed')
      })
    }
    let n = 0
    const ephemeral = new Map<MeshNode, Map<string, number>>(nodes.map((node) => [node, new Map()]))
    /** Last value of each shared key, once every replica agreed (the previous round's outcome). */
    let before: Record<string, JsonValue> = {}

    const linked = (a: MeshNode, b: MeshNode) =>
      a.status().peers.some((p) => p.id === b.id && p.link === 'open' && p.rooms.default?.state === 'synced')
    const isolated = (node: MeshNode) => node.status().peers.every((p) => p.link !== 'open')
    const settled = async () => {
      let unsettled = ''
      await waitUntil(
        'every replica equal',
        () => {
          const json = canonical(nodes[0]!)
          for (const node of nodes) {
            unsettled = `${node.name} (${node.status().onConflict}): ${canonical(node)} vs n0: ${json}`
            if (canonical(node) !== json || node.status().rooms.default?.pending) return false
          }
          return true
        },
        { timeoutMs: 20_000 },
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\n${unsettled}`)
      })
    }

    try {
      // Everyone meets everyone once, so every node knows every URL (heal dials by it).
      for (const node of nodes) await node.join(served.filter((s) => s.node !== node).map((s) => s.url))
      await settled()

      for (let round = 0; round < ROUNDS; round++) {
        // Every node alone: each write below is concurrent with every other node's.
        for (const a of nodes) for (const b of nodes) if (a !== b) a.cut(b.id)
        await waitUntil('every node isolated', () => nodes.every(isolated))

        const written = new Map<string, Map<MeshNode, Written>>()
        for (let w = 0; w < 4 * count; w++) {
          const node = nodes[pick(count)]!
          const r = pick(10)
          if (r < 6) {
            const key = prng.oneOf(gen, SHARED)
            const value: Written = { by: node.name, n: ++n }
            // A third of them with a TTL far past the run: TTL metadata travels with the value.
            await node.put(key, value as unknown as JsonValue, r < 2 ? { ttl: 600_000 } : {})
            if (!written.has(key)) written.set(key, new Map())
            written.get(key)!.set(node, value)
          } else {
            const key = `eph:${node.name}:${pick(2)}`
            await node.put(key, ++n, { ephemeral: true })
            ephemeral.get(node)!.set(key, n)
          }
        }

        const topology = prng.oneOf(gen, ['chain', 'star', 'full'] as const)
        const order = shuffle(
          gen,
          nodes.map((_, i) => i),
        )
        const edges = shuffle(gen, edgesOf(topology, order))
        const trace = `round ${round}: ${topology} over ${order.map((i) => `n${i}(${policies[i] ?? ''})`).join(' ')}, heal order ${edges
          .map(([a, b]) => `n${a}-n${b}`)
          .join(' ')}`
        for (const [i, j] of edges) {
          const [a, b] = [nodes[i]!, nodes[j]!]
          b.heal(a.id)
          a.heal(b.id)
          // Now and then the next link heals before this one synced.
          if (prng.bool(gen)) {
            const seen = (x: MeshNode, y: MeshNode) =>
              JSON.stringify({
                from: x.name,
                link: x.status().peers.filter((p) => p.id === y.id || p.url === y.url),
                member: x.members().find((m) => m.id === y.id)?.state,
                cuts: x.cuts().includes(y.id),
              })
            await waitUntil(`n${i}-n${j} synced (${trace})`, () => linked(a, b) && linked(b, a), {
              timeoutMs: 20_000,
            }).catch((error: unknown) => {
              throw new Error(`${String(error)}\n${seen(a, b)}\n${seen(b, a)}`)
            })
          }
        }
        await settled()

        const data = nodes[0]!.data.toJSON()
        for (const key of SHARED) {
          const writers = written.get(key)
          const got = data[key] as unknown as Written | undefined
          if (!writers) {
            expect(got, `${key} untouched this round (${trace})`).toEqual(before[key])
            continue
          }
          const yielding = (node: MeshNode) => node.status().onConflict === 'accept'
          const others = [...writers].filter(([node]) => !yielding(node))
          const candidates = (others.length > 0 ? others : [...writers]).map(([, value]) => value)
          const detail = `${key} = ${JSON.stringify(got)}; last writes ${JSON.stringify(
            [...writers].map(([node, value]) => [node.name, node.status().onConflict, value.n]),
          )} (${trace})`
          expect(got, `lost: ${detail}`).toBeDefined()
          expect(candidates, detail).toContainEqual(got)
        }
        for (const [owner, keys] of ephemeral) {
          for (const [key, value] of keys) expect(data[key], `${owner.name}'s ephemeral ${key} (${trace})`).toBe(value)
        }
        before = data
      }
    } catch (error) {
      console.error(`conflict heal-order test failed; replay with MESH_SEED=${seed}`)
      throw error
    }
  })
})
