import type { MeshNode } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { memoryLogger, serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
afterEach(async () => {
  for (const s of served.splice(0)) await s.close()
})

/** Nodes that never dial gossiped members, so only the wired links exist and relays are required. */
const start = async (count: number) => {
  // Slow heartbeats and anti-entropy: the frames a test counts are the relays of its writes.
  const quiet = { membership: { heartbeatMs: 60_000, deadAfterMs: 300_000 }, antiEntropyMs: 600_000 }
  for (let i = 0; i < count; i++) served.push(await serveNode({ name: `n${i}`, maxPeers: 0, ...quiet }))
  return served.map((s) => s.node)
}

const converge = async (nodes: MeshNode[]) => {
  for (const [i, node] of nodes.entries()) await node.put(`from-${node.name}`, i)
  await node0Pop(nodes)
  const expected = Object.fromEntries(nodes.slice(1).map((n, i) => [`from-${n.name}`, i + 1]))
  await waitUntil('all equal', () => nodes.every((n) => JSON.stringify(sorted(n)) === JSON.stringify(expected)), {
    subscribe: nodeEvents(...nodes),
  })
  for (const n of nodes) expect(n.status().stateVector).toEqual(nodes[0]!.status().stateVector)
}
const sorted = (n: MeshNode) =>
  Object.fromEntries(Object.entries(n.data.toJSON()).sort(([a], [b]) => a.localeCompare(b)))
const node0Pop = async (nodes: MeshNode[]) => {
  const first = nodes[0]!
  await waitUntil('first write everywhere', () => nodes.every((n) => n.has(`from-${first.name}`)), {
    subscribe: nodeEvents(...nodes),
  })
  await first.pop(`from-${first.name}`)
}

describe('relay topologies converge', () => {
  it('chain a-b-c-d', async () => {
    const nodes = await start(4)
    for (let i = 1; i < nodes.length; i++) await nodes[i]!.join([served[i - 1]!.url])
    await converge(nodes)
  })

  it('star around a hub', async () => {
    const nodes = await start(5)
    for (const s of served.slice(1)) await s.node.join([served[0]!.url])
    await converge(nodes)
  })

  it('ring (relays must stop at nodes that already have an update)', async () => {
    const nodes = await start(5)
    for (let i = 0; i < nodes.length; i++) await nodes[i]!.join([served[(i + 1) % nodes.length]!.url])
    await converge(nodes)
    // No storm: each write is applied once per node, so commits stay bounded.
    for (const n of nodes) expect(n.history().length).toBeLessThanOrEqual(2 * nodes.length + 2)
    // And on the wire: a write crosses each of the 5 links at most once in each direction.
    const framesOut = () =>
      nodes.reduce(
        (sum, n) => sum + (n.metrics().find((m) => m.name === 'mesh_peer_frames_out_total')?.values[0]?.value ?? 0),
        0,
      )
    const before = framesOut()
    const writes = 20
    for (let i = 0; i < writes; i++) await nodes[i % nodes.length]!.put(`burst-${i}`, i)
    await waitUntil(
      'burst everywhere',
      () => nodes.every((n) => n.has(`burst-${writes - 1}`) && n.data.size >= writes),
      { subscribe: nodeEvents(...nodes) },
    )
    const frames = framesOut() - before
    expect(frames).toBeGreaterThanOrEqual(writes * 2)
    expect(frames).toBeLessThanOrEqual(writes * 2 * nodes.length)
  })
})

describe('two nodes that dial each other at once', () => {
  it('settle on one link without a disconnect: no peer:down, no "peer disconnected"', async () => {
    for (let round = 0; round < 5; round++) {
      const logs = [memoryLogger(), memoryLogger()]
      const [a, b] = [
        await serveNode({ name: 'a', logger: logs[0]!.logger }),
        await serveNode({ name: 'b', logger: logs[1]!.logger }),
      ]
      const downs: string[] = []
      a.node.on('peer:down', (p) => downs.push(`a saw ${p.id} down`))
      b.node.on('peer:down', (p) => downs.push(`b saw ${p.id} down`))
      try {
        await Promise.all([a.node.join([b.url], { wait: false }), b.node.join([a.url], { wait: false })])
        await waitUntil('one open link each way', () =>
          [a, b].every((s) => s.node.status().peers.filter((p) => p.link === 'open').length === 1),
        )
        // Generous: a loaded machine (CI on 2 cores) can take seconds; only the outcome is checked.
        await a.node.syncUp({ timeoutMs: 20_000 })
        await b.node.syncUp({ timeoutMs: 20_000 })
        expect(downs).toEqual([])
        for (const log of logs) expect(log.entries.filter((e) => e.message === 'peer disconnected')).toEqual([])
      } finally {
        await a.close()
        await b.close()
      }
    }
  })
})
