import type { MemberEvent, MeshNode } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import {
  MAX_GOSSIP_RECORDS,
  Membership,
  parseGossip,
  parseNews,
  parseSwim,
  type MemberRecord,
} from '../src/membership/index.js'
import { internalRoom, serveNode, type ServedNode } from './helpers.js'

/**
 * A simulated cluster: Membership instances whose SWIM messages and tables go through a queue
 * over the given links, on a clock the test moves. No timers run: `round` ticks everyone.
 */
const simulate = (options: { heartbeatMs?: number; deadAfterMs?: number } = {}) => {
  const nodes = new Map<string, { membership: Membership; events: string[] }>()
  const links = new Set<string>()
  const down = new Set<string>()
  const queue: Array<() => void> = []
  let bytes = 0
  const key = (a: string, b: string) => [a, b].sort().join('|')
  const add = (id: string, startedAt = 0) => {
    const events: string[] = []
    const deliver = (to: string, work: (m: Membership) => void) =>
      queue.push(() => {
        const target = nodes.get(to)
        if (target && !down.has(to) && !down.has(id) && links.has(key(id, to))) work(target.membership)
      })
    const membership = new Membership(
      { id, name: id, url: `ws://${id}`, capabilities: [], meta: {}, startedAt },
      {
        send: (peer, json) => {
          bytes += json.length
          deliver(peer, (m) => m.onSwim(id, parseSwim(json), now))
        },
        sendTable: (peer, json) => deliver(peer, (m) => m.merge(parseNews(json), now)),
        peers: () => [...nodes.keys()].filter((other) => other !== id && links.has(key(id, other))),
        linked: (other) => links.has(key(id, other)),
        changed: (member) => events.push(`${member.id}:${member.state}`),
        tick: () => {},
        random: () => 0.5,
      },
      { heartbeatMs: options.heartbeatMs ?? 100, deadAfterMs: options.deadAfterMs ?? 500 },
    )
    const node = { membership, events }
    nodes.set(id, node)
    return node
  }
  let now = 0
  const flush = () => {
    for (let i = 0; i < 10_000 && queue.length > 0; i++) queue.shift()?.()
  }
  /** Links a and b: each side records the other and sends it its table, as a node does on link-up. */
  const link = (a: string, b: string) => {
    links.add(key(a, b))
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      const m = nodes.get(from)?.membership
      const other = nodes.get(to)?.membership
      if (!m || !other) continue
      m.linked({ id: to, name: to, url: `ws://${to}` }, now)
      const table = JSON.stringify(m.table(to))
      queue.push(() => other.merge(parseNews(table), now))
    }
    flush()
  }
  const unlink = (a: string, b: string) => {
    links.delete(key(a, b))
    nodes.get(a)?.membership.unlinked(b, false)
    nodes.get(b)?.membership.unlinked(a, false)
  }
  const round = (ms = 100) => {
    now += ms
    for (const [id, n] of nodes) if (!down.has(id)) n.membership.tick(now)
    flush()
  }
  return {
    add,
    link,
    unlink,
    round,
    node: (id: string) => nodes.get(id)!,
    stateOf: (observer: string, id: string) => nodes.get(observer)?.membership.stateOf(id),
    crash: (id: string) => down.add(id),
    resume: (id: string) => down.delete(id),
    get bytes() {
      return bytes
    },
    get now() {
      return now
    },
  }
}

describe('SWIM failure detector (simulated time)', () => {
  it('learns members through tables and news, suspects then buries a crashed one, and spreads a graceful leave', () => {
    const sim = simulate()
    for (const id of ['a', 'b', 'c']) sim.add(id)
    // Line topology a - b - c: a and c never talk directly.
    sim.link('a', 'b')
    sim.link('b', 'c')
    for (let i = 0; i < 5; i++) sim.round()
    expect(sim.stateOf('c', 'a')).toBe('alive')
    expect(sim.stateOf('a', 'c')).toBe('alive')

    // a crashes: b's probes go unanswered; c hears it from b.
    sim.crash('a')
    for (let i = 0; i < 4; i++) sim.round()
    expect(sim.stateOf('b', 'a')).toBe('suspect')
    for (let i = 0; i < 6; i++) sim.round()
    expect(sim.stateOf('b', 'a')).toBe('dead')
    expect(sim.stateOf('c', 'a')).toBe('dead')
    expect(sim.node('c').events).toEqual(['b:alive', 'a:alive', 'a:suspect', 'a:dead'])

    // c leaves gracefully: b hears it and the news is not mistaken for a death.
    sim.node('c').membership.leave()
    sim.round()
    expect(sim.stateOf('b', 'c')).toBe('left')
    for (let i = 0; i < 10; i++) sim.round()
    expect(sim.stateOf('b', 'c')).toBe('left')
    expect(sim.node('b').events.filter((e) => e.startsWith('c:'))).toEqual(['c:alive', 'c:left'])
  })

  it('a paused member suspected by others refutes with a higher version and is alive again everywhere', () => {
    const sim = simulate({ deadAfterMs: 2000 })
    for (const id of ['a', 'b', 'c']) sim.add(id)
    sim.link('a', 'b')
    sim.link('b', 'c')
    sim.link('a', 'c')
    for (let i = 0; i < 3; i++) sim.round()
    sim.crash('c')
    for (let i = 0; i < 6; i++) sim.round()
    expect(sim.stateOf('a', 'c')).toBe('suspect')
    expect(sim.stateOf('b', 'c')).toBe('suspect')
    sim.resume('c')
    for (let i = 0; i < 6; i++) sim.round()
    expect(sim.stateOf('a', 'c')).toBe('alive')
    expect(sim.stateOf('b', 'c')).toBe('alive')
    expect(sim.node('c').membership.self.heartbeat).toBeGreaterThan(0)
  })

  it('a member whose link dropped is probed through the others: no suspicion while they reach it', () => {
    const sim = simulate()
    for (const id of ['a', 'b', 'c']) sim.add(id)
    sim.link('a', 'b')
    sim.link('b', 'c')
    sim.link('a', 'c')
    for (let i = 0; i < 3; i++) sim.round()
    sim.unlink('a', 'c')
    for (let i = 0; i < 20; i++) sim.round()
    // Without timers there is no indirect phase: a suspects c, and c refutes through b.
    expect(sim.stateOf('a', 'c')).toBe('alive')
    expect(sim.stateOf('b', 'c')).toBe('alive')
  })

  it('a partition: each side declares the other dead; once it heals, the links bring everyone back', () => {
    const sim = simulate()
    const ids = ['a', 'b', 'c', 'd']
    for (const id of ids) sim.add(id)
    for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) sim.link(ids[i]!, ids[j]!)
    for (let i = 0; i < 5; i++) sim.round()
    const across = [
      ['a', 'c'],
      ['a', 'd'],
      ['b', 'c'],
      ['b', 'd'],
    ] as const
    for (const [x, y] of across) sim.unlink(x, y)
    // Long enough that the deaths are older than what a table carries of departed members.
    for (let i = 0; i < 20; i++) sim.round()
    expect(sim.stateOf('a', 'c')).toBe('dead')
    expect(sim.stateOf('d', 'b')).toBe('dead')
    expect(sim.stateOf('a', 'b')).toBe('alive')
    for (const [x, y] of across) sim.link(x, y)
    for (let i = 0; i < 10; i++) sim.round()
    for (const x of ids) for (const y of ids) if (x !== y) expect(sim.stateOf(x, y), `${x} sees ${y}`).toBe('alive')
  })

  it('idle membership traffic per round does not grow with the cluster', () => {
    const perRound = (size: number) => {
      const sim = simulate()
      const ids = Array.from({ length: size }, (_, i) => `m${i}`)
      for (const id of ids) sim.add(id)
      for (let i = 0; i < size; i++) for (let j = i + 1; j < size; j++) sim.link(ids[i]!, ids[j]!)
      // The news of the joins runs out first.
      for (let i = 0; i < 100; i++) sim.round()
      const before = sim.bytes
      for (let i = 0; i < 50; i++) sim.round()
      return (sim.bytes - before) / 50 / size
    }
    const small = perRound(4)
    const large = perRound(24)
    expect(large).toBeLessThan(1.3 * small)
  })

  it('an old record cannot revive a dead member; a newer heartbeat can (backbone records)', () => {
    const sim = simulate()
    const b = sim.add('b').membership
    const record: MemberRecord = {
      id: 'x',
      name: 'x',
      url: '',
      capabilities: [],
      meta: {},
      startedAt: 0,
      incarnation: 'life-1',
      heartbeat: 5,
      leaving: false,
    }
    b.receive([record], 0)
    b.tick(400)
    b.tick(600)
    expect(b.stateOf('x')).toBe('dead')
    b.receive([record], 700)
    expect(b.stateOf('x')).toBe('dead')
    b.receive([{ ...record, heartbeat: 6 }], 800)
    expect(b.stateOf('x')).toBe('alive')
  })
})

describe('retention of departed members (simulated time, long enough to see it expire)', () => {
  it('a member that left is synced for a while, then forgotten everywhere and never comes back', () => {
    const sim = simulate()
    for (const id of ['a', 'b', 'c', 'd']) sim.add(id)
    for (const [x, y] of [
      ['a', 'b'],
      ['a', 'c'],
      ['b', 'c'],
      ['a', 'd'],
    ] as const)
      sim.link(x, y)
    sim.round()
    sim.node('d').membership.leave()
    sim.round()
    sim.crash('d')
    // Ten minutes among the three that stay.
    while (sim.now < 600_000) sim.round(1000)
    for (const id of ['a', 'b', 'c']) {
      expect(
        sim.node(id).events.filter((e) => e.startsWith('d:')),
        `${id} saw d leave once`,
      ).toEqual(['d:alive', 'd:left'])
      expect(sim.stateOf(id, 'd')).toBeUndefined()
      expect(
        sim
          .node(id)
          .membership.table()
          .map((r) => r.id)
          .sort(),
      ).toEqual(['a', 'b', 'c'])
    }
  })

  it('a node restarted with the same id is alive again, not gone; stale news of its first life changes nothing', () => {
    const sim = simulate()
    sim.add('a')
    sim.add('b')
    sim.link('a', 'b')
    const x1 = sim.add('x').membership
    sim.link('a', 'x')
    for (let i = 0; i < 5; i++) sim.round()
    const firstLife = JSON.stringify(x1.table().slice(0, 1))
    x1.leave()
    sim.round()
    sim.unlink('a', 'x')
    sim.round()
    expect(sim.stateOf('b', 'x')).toBe('left')
    sim.add('x', sim.now) // same id, a new life
    sim.link('b', 'x')
    for (let i = 0; i < 5; i++) sim.round()
    expect(sim.stateOf('a', 'x')).toBe('alive')
    expect(sim.stateOf('b', 'x')).toBe('alive')
    sim.node('a').membership.merge(parseNews(firstLife), sim.now)
    expect(sim.stateOf('a', 'x')).toBe('alive')
  })

  it('gossip beyond the record cap is truncated, not a reason to close the link', () => {
    const records = Array.from({ length: MAX_GOSSIP_RECORDS + 5 }, (_, i) => ({
      id: `m${i}`,
      name: `m${i}`,
      url: '',
      capabilities: [],
      meta: {},
      startedAt: 0,
      incarnation: 'i',
      heartbeat: 1,
      leaving: false,
    }))
    expect(parseGossip(JSON.stringify(records))).toHaveLength(MAX_GOSSIP_RECORDS)
  })
})

describe('membership over real links', () => {
  const served: ServedNode[] = []
  afterEach(async () => {
    for (const s of served.splice(0)) await s.close()
  })
  const fast = { membership: { heartbeatMs: 50, deadAfterMs: 600 } }
  const start = async (name: string, extra: Parameters<typeof serveNode>[0] = {}) => {
    const s = await serveNode({ name, ...fast, ...extra })
    served.push(s)
    return s
  }
  const aliveNodes = (node: MeshNode) =>
    node
      .members()
      .filter((m) => m.role === 'node' && m.state === 'alive')
      .map((m) => m.name)
      .sort()

  it('4 nodes joined only through node 1 learn of each other and link directly', async () => {
    const n1 = await start('n1', { capabilities: ['search'] })
    const others = [await start('n2'), await start('n3'), await start('n4')]
    for (const s of others) await s.node.join([n1.url])
    const all = [n1, ...others]
    const nodes = all.map((s) => s.node)
    await waitUntil('everyone knows everyone', () => nodes.every((n) => aliveNodes(n).join() === 'n1,n2,n3,n4'), {
      subscribe: nodeEvents(...nodes),
    })
    await waitUntil(
      'a full mesh of direct links',
      () => nodes.every((n) => n.status().peers.filter((p) => p.link === 'open').length === 3),
      { subscribe: nodeEvents(...nodes) },
    )
    expect(others[2]!.node.members().find((m) => m.name === 'n1')?.capabilities).toEqual(['search'])
    n1.node.setCapabilities(['search', 'index'])
    await waitUntil(
      'capabilities spread',
      () => others[2]!.node.members().find((m) => m.name === 'n1')?.capabilities.length === 2,
      { subscribe: nodeEvents(...nodes) },
    )
  })

  it('a graceful leave is member:leave, not member:dead, and removes the leaver ephemeral keys everywhere', async () => {
    const a = await start('a')
    const b = await start('b')
    const c = await start('c')
    await b.node.join([a.url])
    await c.node.join([a.url])
    await c.node.put('lease:job-1', { holder: 'c' }, { ephemeral: true })
    await c.node.put('durable', true)
    await waitUntil('lease replicated', () => a.node.has('lease:job-1') && b.node.has('lease:job-1'), {
      subscribe: nodeEvents(a.node, b.node),
    })
    const seen: Array<[string, MemberEvent]> = []
    for (const event of ['member:leave', 'member:dead'] as const) b.node.on(event, (e) => seen.push([event, e]))
    await c.close()
    served.splice(served.indexOf(c), 1)
    await waitUntil('lease removed', () => !a.node.has('lease:job-1') && !b.node.has('lease:job-1'), {
      subscribe: nodeEvents(a.node, b.node),
    })
    await waitUntil('b hears c leave', () => seen.length > 0, { subscribe: nodeEvents(b.node) })
    expect(seen.map(([event, e]) => `${event}:${e.member.name}`)).toEqual(['member:leave:c'])
    expect(b.node.get('durable')).toBe(true)
    expect(b.node.members().find((m) => m.name === 'c')?.state).toBe('left')
  })

  it('TTL keys become invisible on every node and are swept from the store', async () => {
    const a = await start('a')
    const b = await start('b')
    await b.node.join([a.url])
    await a.node.put('session', 'x', { ttl: 150 })
    await a.node.put('keep', 1)
    await waitUntil('ttl key replicated', () => b.node.has('session'), { subscribe: nodeEvents(b.node) })
    expect(b.node.data.meta('session')?.expiresAt).toBeGreaterThan(Date.now())
    await waitUntil('expired everywhere', () => !a.node.has('session') && !b.node.has('session'), {
      subscribe: nodeEvents(a.node, b.node),
    })
    const raw = (n: MeshNode) => internalRoom(n).kv.entry('session') !== undefined
    await waitUntil('swept from the document', () => !raw(a.node) && !raw(b.node), {
      subscribe: nodeEvents(a.node, b.node),
    })
    expect(b.node.data.toJSON()).toEqual({ keep: 1 })
  })

  it('rejects a bad ttl', async () => {
    const a = await start('a')
    await expect(a.node.put('k', 1, { ttl: -5 })).rejects.toMatchObject({ code: 'bad_request' })
    await expect(a.node.put('k', 1, { ttl: 1.5 })).rejects.toMatchObject({ code: 'bad_request' })
  })
})
