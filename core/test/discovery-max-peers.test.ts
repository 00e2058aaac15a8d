import http from 'node:http'
import net from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { attachToServer, dnsDiscovery, MeshNode, type Discovery, type MeshNodeOptions } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { Candidates, MAX_CANDIDATES } from '../src/membership/candidates.js'
import { serveNode, type ServedNode } from './helpers.js'

const fast = { membership: { heartbeatMs: 50, deadAfterMs: 600 } }
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const served = async (options: MeshNodeOptions): Promise<ServedNode> => {
  const s = await serveNode({ ...fast, ...options })
  cleanups.push(() => s.close())
  return s
}

/** A node on `host:port` (port 0: any), for DNS answers that differ by address only. */
const listenOn = async (host: string, port: number, options: MeshNodeOptions) => {
  const node = new MeshNode({ ...fast, ...options })
  await node.ready()
  const server = http.createServer((_req, res) => res.writeHead(404).end())
  const detach = attachToServer(server, { node })
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve))
  } catch (error) {
    await node.close()
    detach()
    throw error
  }
  const bound = (server.address() as AddressInfo).port
  node.url = `ws://${host}:${bound}/mesh`
  const close = async () => {
    await node.close()
    detach()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  return { node, port: bound, close }
}

/**
 * `count` nodes on 127.0.0.2, 127.0.0.3, … sharing one port (as pods behind a headless
 * service share theirs): the first picks a free port, the others take it on their address.
 */
const podsOnOnePort = async (count: number, options: MeshNodeOptions) => {
  for (let attempt = 0; ; attempt++) {
    const pods: Array<Awaited<ReturnType<typeof listenOn>>> = []
    try {
      pods.push(await listenOn('127.0.0.2', 0, options))
      const port = pods[0]!.port
      for (let i = 1; i < count; i++) pods.push(await listenOn(`127.0.0.${i + 2}`, port, options))
      for (const pod of pods) cleanups.push(pod.close)
      return { pods, port, addresses: pods.map((_, i) => `127.0.0.${i + 2}`) }
    } catch (error) {
      for (const pod of pods) await pod.close()
      // Another process holds that port on one of the addresses: pick another.
      if (attempt >= 5) throw error
    }
  }
}

const outgoing = (node: MeshNode) => node.status().peers.filter((p) => p.direction === 'outgoing')
const openLinks = (node: MeshNode) => node.status().peers.filter((p) => p.link === 'open')
const aliveCount = (node: MeshNode) => node.members().filter((m) => m.role === 'node' && m.state === 'alive').length

/** A discovery that offers `list()` every 20 ms. */
const listDiscovery = (list: () => string[]): Discovery => {
  let timer: ReturnType<typeof setInterval> | undefined
  return {
    name: 'list',
    start(context) {
      timer = setInterval(() => context.offer(list()), 20)
    },
    stop() {
      clearInterval(timer)
    },
  }
}

describe('discovery and gossip within maxPeers', () => {
  it('two groups that filled maxPeers among themselves link once discovery lists both', async () => {
    // Pods started in two batches (or the two sides of a partition that outlasted member
    // retention): each side is full with its own, and knows nothing of the other.
    const urls: string[] = []
    let merged = false
    const listed = (group: number) => () => (merged ? urls : urls.slice(3 * group, 3 * group + 3))
    const nodes: MeshNode[] = []
    for (let i = 0; i < 6; i++) {
      const s = await served({
        name: `g${Math.floor(i / 3)}-${i}`,
        maxPeers: 2,
        discovery: [listDiscovery(listed(Math.floor(i / 3)))],
      })
      nodes.push(s.node)
      urls.push(s.node.url)
    }
    await waitUntil(
      'each group is linked within itself, every node at maxPeers',
      () => nodes.every((node) => aliveCount(node) === 3 && openLinks(node).length === 2),
      { subscribe: nodeEvents(...nodes), timeoutMs: 15_000 },
    )
    merged = true
    await Promise.all(nodes.map((node, i) => node.put(`from-${i}`, i)))
    await waitUntil(
      'every node holds every write and knows all 6 members alive',
      () => nodes.every((node) => aliveCount(node) === 6 && nodes.every((_, i) => node.has(`from-${i}`))),
      { subscribe: nodeEvents(...nodes), timeoutMs: 15_000 },
    )
  })

  it('pods that advertise a hostname while discovery lists their IPs stay within maxPeers (probes of known members are dropped)', async () => {
    const urls: string[] = []
    const nodes: MeshNode[] = []
    for (let i = 0; i < 6; i++) {
      const s = await served({ name: `pod-${i}`, maxPeers: 2, discovery: [listDiscovery(() => urls)] })
      urls.push(s.node.url)
      // Advertised under a name, found by address: no discovered URL equals a member's URL.
      s.node.url = s.node.url.replace('127.0.0.1', 'localhost')
      nodes.push(s.node)
    }
    await waitUntil('all 6 pods know each other alive', () => nodes.every((node) => aliveCount(node) === 6), {
      subscribe: nodeEvents(...nodes),
      timeoutMs: 15_000,
    })
    // Probes run at most once every deadAfterMs (600 ms): 3 s of heartbeats is room for five each.
    const seen = () => Math.min(...nodes.map((node) => Math.min(...node.members().map((m) => m.lastSeen))))
    const until = Date.now() + 3000
    let most = 0
    await waitUntil(
      '3 s of heartbeats everywhere',
      () => {
        for (const node of nodes) most = Math.max(most, outgoing(node).filter((p) => p.link === 'open').length)
        return seen() >= until
      },
      { timeoutMs: 20_000 },
    )
    // maxPeers, plus at most one probe whose member turned out known, about to be dropped.
    expect(most).toBeLessThanOrEqual(3)
  })

  it('a node that advertises a hostname and discovers its own IP dials itself once and keeps that dialer as itself', async () => {
    let listed: string[] = []
    const s = await served({ name: 'self', maxPeers: 2, discovery: [listDiscovery(() => listed)] })
    let upgrades = 0
    s.server.on('upgrade', () => upgrades++)
    const own = s.node.url
    // Advertised under a name; discovery finds the address (a pod behind a headless service).
    s.node.url = own.replace('127.0.0.1', 'localhost')
    const other = await served({ name: 'other' })
    listed = [own, other.node.url]
    const selfDialer = () => s.node.status().peers.some((p) => p.url === own && p.link === 'self')
    await waitUntil('the own address is known as this node', selfDialer, { subscribe: nodeEvents(s.node) })
    // Time for many discovery rounds and backoffs (250 ms and up): 1.5 s of the other node's heartbeats.
    const seen = () => s.node.members().find((m) => m.name === 'other')?.lastSeen ?? 0
    const until = Date.now() + 1500
    await waitUntil('1.5 s of heartbeats from the other node', () => seen() >= until, { timeoutMs: 15_000 })
    expect(selfDialer()).toBe(true)
    expect(upgrades).toBe(1)
  })

  it('a node with no link dials stale addresses with a growing backoff, not on every heartbeat', async () => {
    // Addresses of replaced pods where something accepts and resets the connection.
    const dials = new Map<number, number[]>()
    const servers = await Promise.all(
      [0, 1, 2].map(async () => {
        const server = net.createServer((socket) => {
          const port = (server.address() as AddressInfo).port
          dials.set(port, [...(dials.get(port) ?? []), performance.now()])
          socket.destroy()
        })
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
        cleanups.push(() => new Promise((resolve) => server.close(() => resolve())))
        return server
      }),
    )
    const stale = servers.map((server) => `ws://127.0.0.1:${(server.address() as AddressInfo).port}/mesh`)
    await served({ name: 'alone', maxPeers: 8, discovery: [listDiscovery(() => stale)] })
    const fourth = () => [...dials.values()].find((times) => times.length >= 4)
    await waitUntil('one stale address was dialed 4 times', () => fourth() !== undefined, { timeoutMs: 15_000 })
    const times = fourth() ?? []
    // 250, 500 and 1000 ms of backoff between its first four dials at least (heartbeats: 50 ms).
    expect(times[3]! - times[0]!).toBeGreaterThanOrEqual(1750)
  })

  it('DNS returning 6 live nodes, maxPeers 2: the node dials at most 2 and converges with all 6 by gossip and relays', async () => {
    // deadAfterMs sets how long a dial holds its place in maxPeers: long enough for a loaded machine.
    const timing = { membership: { heartbeatMs: 50, deadAfterMs: 5000 } }
    const { pods, port, addresses } = await podsOnOnePort(6, timing)
    // The pods know each other (here: a chain of joins, then gossip), as pods that ran discovery before.
    for (let i = 1; i < pods.length; i++) await pods[i]!.node.join([pods[i - 1]!.node.url])
    const newcomer = await served({
      name: 'newcomer',
      maxPeers: 2,
      ...timing,
      discovery: [
        dnsDiscovery({ hostname: 'mesh.internal', port, intervalMs: 20, resolve: () => Promise.resolve(addresses) }),
      ],
    })
    const everyone = [newcomer.node, ...pods.map((p) => p.node)]
    let mostDialed = 0
    const dialed = () => {
      mostDialed = Math.max(mostDialed, outgoing(newcomer.node).length)
      return mostDialed
    }
    await Promise.all(everyone.map((node, i) => node.put(`from-${i}`, node.name)))
    const keys = everyone.map((_, i) => `from-${i}`)
    await waitUntil(
      'every node holds every write and knows all 7 members alive',
      () => dialed() >= 0 && everyone.every((node) => keys.every((k) => node.has(k)) && aliveCount(node) === 7),
      { subscribe: nodeEvents(...everyone), timeoutMs: 15_000 },
    )
    expect(dialed()).toBeGreaterThanOrEqual(1)
    expect(dialed()).toBeLessThanOrEqual(2)
    expect(outgoing(newcomer.node).filter((p) => p.link === 'open').length).toBeLessThanOrEqual(2)
    // Links the pods dialed to the newcomer are accepted as ever (maxPeers bounds its own dials).
    expect(openLinks(newcomer.node).length).toBeGreaterThanOrEqual(1)
  })

  it('maxPeers 0: discovery still joins a node with no link to one address, and join() still dials all it is given', async () => {
    const { pods, port, addresses } = await podsOnOnePort(3, { maxPeers: 0 })
    const loner = await served({
      name: 'loner',
      maxPeers: 0,
      discovery: [
        dnsDiscovery({ hostname: 'mesh.internal', port, intervalMs: 20, resolve: () => Promise.resolve(addresses) }),
      ],
    })
    await waitUntil('the loner links to one discovered node', () => openLinks(loner.node).length === 1, {
      subscribe: nodeEvents(loner.node),
    })
    await loner.node.put('k', 1)
    // Data gets through, and more discovery rounds add no dial.
    await waitUntil('the linked pod has the write', () => pods.some((p) => p.node.has('k')))
    expect(outgoing(loner.node)).toHaveLength(1)

    const joiner = await served({ name: 'joiner', maxPeers: 0 })
    await joiner.node.join(pods.map((p) => p.node.url))
    expect(outgoing(joiner.node).filter((p) => p.link === 'open')).toHaveLength(3)
  })

  it('DNS returning 4 stale addresses and 2 live ones, maxPeers 2: the node links both live ones and stops dialing the stale', async () => {
    const { pods, port, addresses } = await podsOnOnePort(6, { maxPeers: 0 })
    // Pods replaced since the DNS answer was cached: nobody listens at their address any more.
    for (const pod of pods.slice(0, 4)) await pod.close()
    const live = new Set(pods.slice(4).map((p) => p.node.id))
    const newcomer = await served({
      name: 'newcomer',
      maxPeers: 2,
      discovery: [
        dnsDiscovery({ hostname: 'mesh.internal', port, intervalMs: 20, resolve: () => Promise.resolve(addresses) }),
      ],
    })
    await waitUntil(
      'linked to both live pods, and no dialer left for a stale address',
      () =>
        openLinks(newcomer.node).filter((p) => p.id !== null && live.has(p.id)).length === 2 &&
        outgoing(newcomer.node).length === 2,
      { subscribe: nodeEvents(newcomer.node), timeoutMs: 10_000 },
    )
  })

  it('a Discovery written for the old context.join is held to maxPeers too', async () => {
    const { pods } = await podsOnOnePort(3, { maxPeers: 0 })
    const legacy: Discovery = {
      name: 'static',
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- what user code written before `offer` calls
      start: (context) => context.join(pods.map((p) => p.node.url)),
      stop: () => {},
    }
    const node = await served({ name: 'node', maxPeers: 1, discovery: [legacy] })
    await waitUntil('linked to one', () => openLinks(node.node).length === 1, { subscribe: nodeEvents(node.node) })
    await node.node.put('k', 1)
    await waitUntil('the write reached it', () => pods.some((p) => p.node.has('k')))
    expect(outgoing(node.node)).toHaveLength(1)
  })

  it('a node whose member table lists killed members still reaches maxPeers live links', async () => {
    const seed = await served({ name: 'seed', maxPeers: 0 })
    // Killed below: no goodbye, and their port refuses every dial from then on.
    const victims = await Promise.all(['v1', 'v2'].map((name) => served({ name, maxPeers: 0 })))
    const sockets = victims.map((v) => {
      const set = new Set<Socket>()
      v.server.on('upgrade', (_req, socket: Socket) => set.add(socket))
      return set
    })
    // The seed dials them, so they dial nobody themselves.
    await seed.node.join(victims.map((v) => v.url))
    const node = await served({ name: 'node', maxPeers: 3 })
    await node.node.join([seed.url])
    await waitUntil('node linked to the seed and (by gossip) both victims', () => openLinks(node.node).length === 3, {
      subscribe: nodeEvents(node.node),
    })
    // Live members it learns of now find it full: it does not dial them (they dial nobody).
    const live = await Promise.all(['l1', 'l2'].map((name) => served({ name, maxPeers: 0 })))
    await seed.node.join(live.map((l) => l.url))
    await waitUntil('node knows all 6 members alive', () => aliveCount(node.node) === 6, {
      subscribe: nodeEvents(node.node),
    })
    expect(openLinks(node.node)).toHaveLength(3)

    for (const [i, v] of victims.entries()) {
      for (const socket of sockets[i]!) socket.destroy()
      v.server.close()
    }
    const dead = () =>
      node.node.members().filter((m) => victims.some((v) => v.node.id === m.id) && m.state === 'dead').length
    await waitUntil('node judges both victims dead', () => dead() === 2, { subscribe: nodeEvents(node.node) })
    const liveIds = new Set([seed, ...live].map((s) => s.node.id))
    await waitUntil(
      'node holds 3 live links again (seed, l1, l2), while it still redials the dead',
      () => openLinks(node.node).filter((p) => p.id !== null && liveIds.has(p.id)).length === 3,
      { subscribe: nodeEvents(node.node), timeoutMs: 10_000 },
    )
    expect(dead()).toBe(2)
    // The dead are still redialed (a partition looks the same), without holding places.
    expect(outgoing(node.node).filter((p) => victims.some((v) => v.url === p.url))).toHaveLength(2)
  })
})

describe('Candidates', () => {
  const any = { random: Math.random, failed: false, now: 0 }
  it('keeps the newest offers up to the cap and picks only usable ones, at most as many as asked', () => {
    const candidates = new Candidates()
    const url = (i: number) => `ws://10.0.${Math.floor(i / 256)}.${i % 256}:3000/mesh`
    candidates.add(Array.from({ length: MAX_CANDIDATES + 10 }, (_, i) => url(i)))
    expect(candidates.size).toBe(MAX_CANDIDATES)
    // The 10 offered first went; offering one again makes it the newest.
    expect(candidates.pick(MAX_CANDIDATES, (u) => u === url(0), any)).toEqual([])
    candidates.add([url(10)])
    candidates.add([url(0)])
    expect(candidates.size).toBe(MAX_CANDIDATES)
    expect(candidates.pick(5, (u) => u === url(0) || u === url(10), any).sort()).toEqual([url(0), url(10)].sort())
    expect(new Set(candidates.pick(3, () => true, any)).size).toBe(3)
    expect(candidates.pick(0, () => true, any)).toEqual([])
  })

  it('a failed address is picked only when failed ones are asked for, until offered again, and after its backoff', () => {
    const candidates = new Candidates()
    candidates.add(['ws://a/mesh', 'ws://b/mesh'])
    candidates.failed(['ws://a/mesh', 'ws://unknown/mesh'], 1000)
    expect(candidates.size).toBe(2)
    const at = (now: number, failed = false) => candidates.pick(2, () => true, { ...any, now, failed }).sort()
    expect(at(1000)).toEqual(['ws://b/mesh'])
    expect(at(1000, true)).toEqual(['ws://b/mesh'])
    expect(at(1250, true)).toEqual(['ws://a/mesh', 'ws://b/mesh'])
    // Offered again: no longer failed, but its backoff stays; each failure doubles it, up to 5 s.
    candidates.add(['ws://a/mesh'])
    expect(at(1100)).toEqual(['ws://b/mesh'])
    expect(at(1250)).toEqual(['ws://a/mesh', 'ws://b/mesh'])
    candidates.failed(['ws://a/mesh'], 2000)
    expect(at(2499, true)).toEqual(['ws://b/mesh'])
    expect(at(2500, true)).toEqual(['ws://a/mesh', 'ws://b/mesh'])
    for (let i = 0; i < 10; i++) candidates.failed(['ws://a/mesh'], 3000)
    expect(at(7999, true)).toEqual(['ws://b/mesh'])
    expect(at(8000, true)).toEqual(['ws://a/mesh', 'ws://b/mesh'])
    // Reaching a node forgets the failures, and remembers which node the address is.
    candidates.reached('ws://a/mesh', 'node-a')
    expect(at(3000)).toEqual(['ws://a/mesh', 'ws://b/mesh'])
    expect(candidates.memberOf('ws://a/mesh')).toBe('node-a')
    candidates.add(['ws://a/mesh'])
    expect(candidates.memberOf('ws://a/mesh')).toBe('node-a')
  })
})
