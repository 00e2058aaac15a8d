import dgram from 'node:dgram'
import { dnsDiscovery, multicastDiscovery, parseDiscovery, type MeshNode } from '@mesh/core'
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
