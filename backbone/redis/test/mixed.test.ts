import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { MeshNode } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import { startRedis, type RedisServer } from '@mesh/redis/testing'
import { backboneNodes, ready } from './nodes.js'

let redis: RedisServer
const nodes = backboneNodes()

beforeAll(async () => {
  redis = await startRedis()
})
afterEach(() => nodes.closeAll())
afterAll(() => redis.stop())

describe('peer links and the backbone together', () => {
  it('converge without duplicate log entries or loops', async () => {
    nodes.fresh()
    // bridge and linked are meshed and on Redis; meshOnly is meshed only (through bridge);
    // r1 and r2 are on Redis only.
    const bridge = nodes.start(redis.url, { name: 'bridge' })
    const linked = nodes.start(redis.url, { name: 'linked' })
    const [r1, r2] = [nodes.start(redis.url, { name: 'r1' }), nodes.start(redis.url, { name: 'r2' })]
    const onRedis = [bridge, linked, r1, r2]
    const meshOnly = nodes.plain({ name: 'mesh-only' })
    const bridgeUrl = await nodes.serve(bridge.node)
    await Promise.all(onRedis.map((n) => ready(n)))
    // Every node on Redis knows the others are: what decides who publishes a relayed update.
    await waitUntil('every backbone node lists the other three', () =>
      onRedis.every((n) => n.node.members().filter((m) => m.state === 'alive').length >= 4),
    )
    await Promise.all([meshOnly.join([bridgeUrl]), linked.node.join([bridgeUrl])])
    const all = [...onRedis.map((n) => n.node), meshOnly]
    const writes = new Map<string, MeshNode>()
    for (let round = 0; round < 5; round++) {
      for (const node of all) {
        const key = `${node.name}:${round}`
        await node.put(key, round)
        writes.set(key, node)
      }
    }
    for (const node of all) {
      await waitUntil(
        `${node.name} holds all ${writes.size} writes`,
        () => [...writes.keys()].every((key) => node.has(key)),
        { subscribe: (wake) => node.on('change', wake), timeoutMs: 10_000 },
      )
    }
    await Promise.all(onRedis.map((n) => n.backbone.settled()))
    const client = redis.client()
    const log = `${nodes.prefix}:{default}:log`
    /** Live updates (V1) in the log, by the node that published them (an entry may batch several). */
    const published = async (): Promise<Map<string, number>> => {
      const byWriter = new Map<string, number>()
      for (const [, fields] of await client.xrange(log, '-', '+')) {
        if (fields[fields.indexOf('f') + 1] !== '1') continue
        const writer = fields[fields.indexOf('n') + 1] ?? ''
        const updates = fields.filter((field, i) => i % 2 === 0 && field === 'u').length
        byWriter.set(writer, (byWriter.get(writer) ?? 0) + updates)
      }
      return byWriter
    }
    const total = (byWriter: Map<string, number>) => [...byWriter.values()].reduce((a, b) => a + b, 0)
    const byWriter = await published()
    // One update per write: writes of nodes on Redis by their writer, the mesh-only node's by the bridge.
    expect(total(byWriter)).toBe(writes.size)
    expect(byWriter.get(bridge.node.id)).toBe(10)
    expect(byWriter.get(meshOnly.id)).toBeUndefined()
    for (const n of [linked, r1, r2]) expect(byWriter.get(n.node.id)).toBe(5)
    // No loop: one more write adds one entry, and everything quiets down after it.
    await r1.node.put('last', true)
    await waitUntil('mesh-only holds the last write', () => meshOnly.has('last'), {
      subscribe: (wake) => meshOnly.on('change', wake),
    })
    await Promise.all(onRedis.map((n) => n.backbone.settled()))
    expect(total(await published())).toBe(writes.size + 1)
  })
})
