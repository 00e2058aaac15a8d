import dgram from 'node:dgram'
import { dnsDiscovery, multicastDiscovery, parseDiscovery, type DiscoveryContext, type MeshNode } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
afterEach(async () => {
  for (const s of served.splice(0)) await s.close()
})
const linkedTo = (node: MeshNode, other: MeshNode) =>
  node.status().peers.some((p) => p.id === other.id && p.link === 'open')

/** Whether this machine delivers multicast on the loopback interface, and a free UDP port to use. */
const loopbackMulticast = (): Promise<{ ok: boolean; port: number; why?: string }> =>
  new Promise((resolve) => {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true })
    const group = '239.255.77.78'
    const timer = setTimeout(() => finish(false, 'no multicast packet came back on 127.0.0.1'), 1000)
    const finish = (ok: boolean, why?: string) => {
      clearTimeout(timer)
      const port = (() => {
        try {
          return s.address().port
        } catch {
          return 0
        }
      })()
      s.close()
      resolve({ ok, port, why })
    }
    s.on('error', (error) => finish(false, error.message))
    s.on('message', () => finish(true))
    s.bind(0, () => {
      try {
        s.addMembership(group, '127.0.0.1')
        s.setMulticastInterface('127.0.0.1')
        s.setMulticastLoopback(true)
        s.send('probe', s.address().port, group)
      } catch (error) {
        finish(false, String(error))
      }
    })
  })

describe('discovery', () => {
  it('DNS: re-resolves the name and joins addresses as they appear', async () => {
    const a = await serveNode({ name: 'a' })
    served.push(a)
    let addresses: string[] = []
    const b = await serveNode({
      name: 'b',
      discovery: [
        dnsDiscovery({
          hostname: 'mesh.internal',
          port: a.port,
          intervalMs: 50,
          resolve: () => Promise.resolve(addresses),
        }),
      ],
    })
    served.push(b)
    expect(linkedTo(b.node, a.node)).toBe(false)
    addresses = ['127.0.0.1']
    await waitUntil('b joins the address DNS returned', () => linkedTo(b.node, a.node), {
      subscribe: nodeEvents(a.node, b.node),
    })
  })

  it('dials at most maxPeers of the addresses a discovery finds; the rest come through gossip', async () => {
    // A fleet of 10 joined through p0 that dials nobody else (maxPeers 0), so every link of b
    // is one b dialed.
    const p0 = await serveNode({ name: 'p0', maxPeers: 0 })
    const rest = await Promise.all(Array.from({ length: 9 }, (_, i) => serveNode({ name: `p${i + 1}`, maxPeers: 0 })))
    const peers = [p0, ...rest]
    served.push(...peers)
    await Promise.all(rest.map((p) => p.node.join([p0.url])))
    let found: DiscoveryContext | undefined
    const b = await serveNode({
      name: 'b',
      maxPeers: 3,
      discovery: [{ name: 'all-of-them', start: (context) => (found = context), stop: () => {} }],
    })
    served.push(b)
    const urls = [...peers.map((p) => p.url), b.url]
    const open = () => b.node.status().peers.filter((p) => p.link === 'open').length
    found?.join(urls)
    await waitUntil('b links to 3 and knows all 11 members', () => open() === 3 && b.node.members().length === 11, {
      subscribe: nodeEvents(b.node),
    })
    // Rounds later (a DNS name is resolved again and again), still no more than maxPeers.
    found?.join(urls)
    found?.join(urls)
    expect(b.node.status().peers.length, JSON.stringify(b.node.status().peers)).toBe(3)
  })

  it('past maxPeers, dials one more address a round while it finds more addresses than it knows members', async () => {
    // Islands that know nothing of each other, as two sides of a long partition that forgot
    // each other: the discovery is the only bridge.
    const islands = await Promise.all(Array.from({ length: 4 }, (_, i) => serveNode({ name: `i${i}`, maxPeers: 0 })))
    served.push(...islands)
    let found: DiscoveryContext | undefined
    const b = await serveNode({
      name: 'b',
      maxPeers: 1,
      discovery: [{ name: 'islands', start: (context) => (found = context), stop: () => {} }],
    })
    served.push(b)
    // As a DNS name of the fleet resolves, this node's own address among them.
    const urls = [...islands.map((p) => p.url), b.url]
    const open = () => b.node.status().peers.filter((p) => p.link === 'open').length
    for (let round = 1; round <= 4; round++) {
      found?.join(urls)
      await waitUntil(`b links to ${round} after round ${round}`, () => open() === round, {
        subscribe: nodeEvents(b.node),
      })
    }
    // Every island known: no more bridges, whatever the rounds.
    found?.join(urls)
    expect(b.node.status().peers.length).toBe(4)
  })

  it('a node with maxPeers 0 and no link still dials one address a discovery finds', async () => {
    const a = await serveNode({ name: 'a' })
    served.push(a)
    const lone = await serveNode({
      name: 'lone',
      maxPeers: 0,
      discovery: [{ name: 'one', start: (context) => context.join([a.url]), stop: () => {} }],
    })
    served.push(lone)
    await waitUntil('the lone node links', () => linkedTo(lone.node, a.node), { subscribe: nodeEvents(lone.node) })
  })

  it('DNS: resolves a real name (localhost)', async () => {
    const a = await serveNode({ name: 'a' })
    served.push(a)
    const b = await serveNode({ name: 'b', discovery: [dnsDiscovery({ hostname: 'localhost', port: a.port })] })
    served.push(b)
    await waitUntil('b joins localhost', () => linkedTo(b.node, a.node), { subscribe: nodeEvents(a.node, b.node) })
  })

  it('multicast on loopback: nodes find each other with no URL given', async (ctx) => {
    const probe = await loopbackMulticast()
    if (!probe.ok) {
      console.warn(`skipping multicast discovery test: ${String(probe.why)}`)
      ctx.skip()
    }
    const options = { interfaceAddress: '127.0.0.1', group: '239.255.77.78', port: probe.port, intervalMs: 50 }
    const a = await serveNode({ name: 'a', discovery: [multicastDiscovery(options)] })
    const b = await serveNode({ name: 'b', discovery: [multicastDiscovery(options)] })
    served.push(a, b)
    await waitUntil('a and b linked', () => linkedTo(a.node, b.node) && linkedTo(b.node, a.node), {
      subscribe: nodeEvents(a.node, b.node),
    })
  })

  it('parses the CLI forms and rejects anything else', () => {
    expect(parseDiscovery('dns:mesh.default.svc:4000').name).toBe('dns:mesh.default.svc:4000')
    expect(parseDiscovery('multicast').name).toBe('multicast:239.255.77.77:47777')
    expect(parseDiscovery('multicast:239.1.2.3:5000').name).toBe('multicast:239.1.2.3:5000')
    expect(() => parseDiscovery('dns:x')).toThrow(/not a discovery spec/)
    expect(() => parseDiscovery('dns:x:99999')).toThrow(/bad port/)
  })
})
