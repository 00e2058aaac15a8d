import { MeshNode } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { openSocket, serveNode, type ServedNode } from './helpers.js'
import { MemoryNet } from './memory-net.js'

// Regressions found by breaking the replication changes with small scripts against real nodes.

const served: ServedNode[] = []
const nodes: MeshNode[] = []
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close()
  for (const s of served.splice(0)) await s.close()
})
const fast = { membership: { heartbeatMs: 20, deadAfterMs: 100 } }
describe('review findings', () => {
  it('a relay that unloads an idle empty room does not cut replication through it', async () => {
    const a = await serveNode({ name: 'a', maxPeers: 0, ...fast })
    const b = await serveNode({ name: 'b', maxPeers: 0, ...fast })
    const c = await serveNode({ name: 'c', maxPeers: 0, ...fast })
    served.push(a, b, c)
    await b.node.join([a.url])
    await c.node.join([a.url])
    // Tabs keep room x on b and c; a only relays it.
    const tabs = await Promise.all([openSocket(`${b.url}/x`), openSocket(`${c.url}/x`)])
    await waitUntil('x everywhere', () => [a, b, c].every((s) => s.node.rooms().includes('x')))
    await waitUntil('a unloads the empty room', () => !a.node.rooms().includes('x'), { timeoutMs: 5000 })
    b.node.store('x').set('k', 'from b')
    await waitUntil('c gets the write through a', () => c.node.store('x').get('k') === 'from b', {
      subscribe: nodeEvents(c.node),
    })
    for (const tab of tabs) tab.ws.close()
  })

  it('a peer restarted with the same id replaces its half-open link at once', async () => {
    const net = new MemoryNet()
    const b = new MeshNode({ name: 'b' })
    const first = new MeshNode({ name: 'x', id: 'x' })
    nodes.push(b, first)
    const old = net.connect(first, b)
    await net.drain()
    await first.put('life', 1)
    await net.drain()
    expect(b.get('life')).toBe(1)
    // The first process stops without closing its socket: its frames never come again.
    old.dialer.inbox = []
    old.acceptor.inbox = []
    const second = new MeshNode({ name: 'x', id: 'x' })
    nodes.push(second)
    net.connect(second, b)
    await net.drain()
    await second.put('life', 2)
    await net.drain()
    expect(b.get('life')).toBe(2)
    expect(b.status().peers.filter((p) => p.link === 'open')).toHaveLength(1)
  })

  it("a previous life's ephemeral keys do not outlive it while a new process runs with the same id", async () => {
    const net = new MemoryNet()
    const b = new MeshNode({ name: 'b' })
    const first = new MeshNode({ name: 'x', id: 'x' })
    nodes.push(b, first)
    const link = net.connect(first, b)
    await first.put('lock', 'first life', { ephemeral: true })
    await net.drain()
    expect(b.get('lock')).toBe('first life')
    link.dialer.close(1006, 'crash') // no goodbye, no sweep of its own keys
    const second = new MeshNode({ name: 'x', id: 'x' })
    nodes.push(second)
    net.connect(second, b)
    await waitUntil('the old lock is gone everywhere', async () => {
      await net.drain()
      return !b.has('lock') && !second.has('lock')
    })
  })
})
