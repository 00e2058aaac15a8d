import type { MemberEvent, MeshNode } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_GOSSIP_RECORDS, Membership, parseGossip, type MemberRecord } from '../src/membership/index.js'
import { reachable } from '../src/membership/link-graph.js'
import { internalRoom, linkMemberships, serveNode, type ServedNode } from './helpers.js'

/** A member record of `x`, as gossip carries it. */
const recordOf = (incarnation: string, heartbeat: number, url = 'ws://x'): MemberRecord => ({
  id: 'x',
  name: 'x',
  url,
  capabilities: [],
  meta: {},
  startedAt: 0,
  incarnation,
  heartbeat,
  leaving: false,
})

describe('gossip failure detector (simulated time)', () => {
  const make = (id: string) => {
    const out: { digest: MemberRecord[] } = { digest: [] }
    const events: string[] = []
    const membership = new Membership(
      { id, name: id, url: `ws://${id}`, capabilities: [], meta: {}, startedAt: 0 },
      {
        broadcast: (records) => (out.digest = structuredClone(records)),
        changed: (member) => events.push(`${member.id}:${member.state}`),
        tick: () => {},
        random: () => 0.5,
      },
      { heartbeatMs: 100, deadAfterMs: 500 },
    )
    return { membership, out, events }
  }

  it('does not count its own pause against a peer, but a node late on every heartbeat still finds the dead', () => {
    const [a, b] = [make('a'), make('b')]
    const hear = (now: number) => {
      b.membership.tick(now)
      a.membership.receive(b.out.digest, now)
    }
    a.membership.tick(0)
    hear(0)
    // a pauses 450 ms (past suspectAfterMs, 300) while b beats on: b's silence meanwhile is a's own.
    a.membership.tick(450, 450)
    expect(a.events).toEqual(['b:alive'])
    hear(450)
    // b dies; a is late on every heartbeat (400 ms apart): slow, not paused, so b's silence counts.
    let now = 450
    while (a.membership.stateOf('b') !== 'dead' && now < 5000) a.membership.tick((now += 400), 400)
    expect(a.events).toEqual(['b:alive', 'b:suspect', 'b:dead'])
    // Within deadAfterMs plus two of its late heartbeats of b's last sign of life.
    expect(now - 450).toBeLessThanOrEqual(500 + 2 * 400)
  })

  it('learns members through relays, suspects then buries the silent one, and spreads a graceful leave', () => {
    const [a, b, c] = [make('a'), make('b'), make('c')]
    // Line topology a - b - c: a and c never talk directly.
    const round = (now: number, alive: Array<typeof a>) => {
      for (const n of alive) n.membership.tick(now)
      const has = (n: typeof a) => alive.includes(n)
      if (has(a) && has(b)) b.membership.receive(a.out.digest, now)
      if (has(b)) a.membership.receive(b.out.digest, now)
      if (has(b)) c.membership.receive(b.out.digest, now)
      if (has(c) && has(b)) b.membership.receive(c.out.digest, now)
    }
    round(0, [a, b, c])
    round(100, [a, b, c])
    expect(c.membership.stateOf('a')).toBe('alive')
    expect(a.membership.stateOf('c')).toBe('alive')

    // a goes silent (crash): b and c judge it on their own clocks.
    let now = 100
    while (now < 500) round((now += 100), [b, c])
    expect(b.membership.stateOf('a')).toBe('suspect')
    while (now < 800) round((now += 100), [b, c])
    expect(b.membership.stateOf('a')).toBe('dead')
    expect(c.membership.stateOf('a')).toBe('dead')
    expect(c.events).toEqual(['b:alive', 'a:alive', 'a:suspect', 'a:dead'])

    // c leaves gracefully: b hears it and the news is not mistaken for a death.
    c.membership.leave()
    b.membership.receive(c.out.digest, now)
    expect(b.membership.stateOf('c')).toBe('left')
    round((now += 1000), [b])
    expect(b.membership.stateOf('c')).toBe('left')
    expect(b.events.filter((e) => e.startsWith('c:'))).toEqual(['c:alive', 'c:left'])
  })

  it('an old record cannot revive a dead member; a newer heartbeat can', () => {
    const b = make('b')
    const record = recordOf('life-1', 5, '')
    b.membership.receive([record], 0)
    b.membership.tick(400)
    b.membership.tick(600)
    expect(b.membership.stateOf('x')).toBe('dead')
    b.membership.receive([record], 700)
    expect(b.membership.stateOf('x')).toBe('dead')
    b.membership.receive([{ ...record, heartbeat: 6 }], 800)
    expect(b.membership.stateOf('x')).toBe('alive')
  })

  it("a linked node's placeholder for a member is not gossiped, and one heard does not retire the member's life", () => {
    // MESH_SEED=931229980 of convergence.test.ts: c accepted a link from x before x's first
    // gossip, and gossiped its placeholder (incarnation ''); b took it for a restart of x and
    // retired x's real life, so x stayed dead on b for good while every other node saw it alive.
    const [b, c] = [make('b'), make('c')]
    const record = recordOf('life-1', 5)
    b.membership.receive([record], 0)
    c.membership.linked({ id: 'x', name: 'x', url: 'ws://x' }, 0)
    c.membership.tick(0)
    expect(c.out.digest.map((r) => r.id)).toEqual(['c'])
    // A placeholder heard anyway (an older node gossips them) says nothing about x's life.
    b.membership.receive([{ ...record, incarnation: '', heartbeat: 0 }], 50)
    b.membership.tick(400)
    b.membership.tick(600)
    expect(b.membership.stateOf('x')).toBe('dead')
    b.membership.receive([{ ...record, heartbeat: 9 }], 700)
    expect(b.membership.stateOf('x')).toBe('alive')
  })

  it('a restarted member heard of through its new life first is not sent back to its old life by stale gossip', () => {
    // x crashed and restarted with the same id within deadAfterMs. e never knew its first life:
    // it hears the new one first (from x itself, or a node x linked to), then the first life's
    // record from a node that has not heard of the restart yet. Taken for a newer life, the old
    // record retired the new life on e, and x stayed dead on e for good while it ran.
    const e = make('e')
    const life = (incarnation: string, heartbeat: number) => recordOf(incarnation, heartbeat)
    e.membership.receive([life('life-2', 3)], 0)
    e.membership.receive([life('life-1', 40)], 10)
    // The first life is over: only the new one beats from now on.
    for (let now = 100; now <= 1500; now += 100) {
      e.membership.receive([life('life-2', 3 + now / 100)], now)
      e.membership.tick(now)
    }
    expect(e.membership.stateOf('x')).toBe('alive')
    expect(e.out.digest.find((r) => r.id === 'x')?.incarnation).toBe('life-2')
    // The first life's last record, heard again, changes nothing now.
    e.membership.receive([life('life-1', 40)], 1600)
    e.membership.tick(1600)
    expect(e.membership.stateOf('x')).toBe('alive')
    expect(e.out.digest.find((r) => r.id === 'x')?.incarnation).toBe('life-2')
  })
})

describe('retention of departed members (simulated time, long enough to see it expire)', () => {
  const make = (id: string, startedAt = 0) => {
    const out: { digest: MemberRecord[] } = { digest: [] }
    const events: string[] = []
    const membership = new Membership(
      { id, name: id, url: `ws://${id}`, capabilities: [], meta: {}, startedAt },
      {
        broadcast: (records) => (out.digest = structuredClone(records)),
        changed: (member) => events.push(`${member.id}:${member.state}`),
        tick: () => {},
        random: () => 0.5,
      },
      { heartbeatMs: 100, deadAfterMs: 500 },
    )
    return { membership, out, events }
  }
  type M = ReturnType<typeof make>
  // Full mesh gossip among the given nodes, one heartbeat each.
  const round = (now: number, nodes: M[]) => {
    for (const n of nodes) n.membership.tick(now)
    for (const from of nodes) for (const to of nodes) if (from !== to) to.membership.receive(from.out.digest, now)
  }

  it('a member that left is gossiped for a while, then forgotten everywhere and never comes back', () => {
    const [a, b, c, d] = [make('a'), make('b'), make('c'), make('d')]
    let now = 0
    round(now, [a, b, c, d])
    d.membership.leave()
    for (const n of [a, b, c]) n.membership.receive(d.out.digest, now)
    // Ten minutes of gossip among the three that stay.
    while (now < 600_000) round((now += 100), [a, b, c])
    for (const n of [a, b, c]) {
      expect(
        n.events.filter((e) => e.startsWith('d:')),
        `${n.membership.self.id} saw d leave once`,
      ).toEqual(['d:alive', 'd:left'])
      expect(n.membership.stateOf('d')).toBeUndefined()
      expect(n.out.digest.map((r) => r.id).sort()).toEqual(['a', 'b', 'c'])
    }
  })

  it('graceful restarts with new ids do not accumulate in gossip', () => {
    const [a, b] = [make('a'), make('b')]
    let now = 0
    for (let i = 0; i < 50; i++) {
      const short = make(`gen-${i}`, now)
      round((now += 100), [a, b, short])
      short.membership.leave()
      a.membership.receive(short.out.digest, now)
      for (let k = 0; k < 20; k++) round((now += 100), [a, b])
    }
    expect(a.out.digest.length).toBeLessThanOrEqual(12)
    expect(b.out.digest.length).toBeLessThanOrEqual(12)
  })

  it('a node restarted with the same id is alive again, not gone', () => {
    const [a, b] = [make('a'), make('b')]
    let now = 0
    const x1 = make('x', 0)
    round(now, [a, b, x1])
    round((now += 100), [a, b, x1])
    for (let i = 0; i < 30; i++) round((now += 100), [a, b, x1]) // x1's heartbeat counter grows
    x1.membership.leave()
    a.membership.receive(x1.out.digest, now)
    round((now += 100), [a, b])
    expect(b.membership.stateOf('x')).toBe('left')
    const x2 = make('x', now) // same id, counter back at zero
    round((now += 100), [a, b, x2])
    expect(a.membership.stateOf('x')).toBe('alive')
    expect(b.membership.stateOf('x')).toBe('alive')
    for (let i = 0; i < 10; i++) round((now += 100), [a, b, x2])
    expect(b.membership.stateOf('x')).toBe('alive')
    // Stale gossip of the first life changes nothing.
    a.membership.receive(x1.out.digest, now)
    expect(a.membership.stateOf('x')).toBe('alive')
  })

  it('a node restarted with the same id on a clock that is behind is alive again, not ignored', () => {
    const [a, b] = [make('a'), make('b')]
    let now = 100_000
    const x1 = make('x', now)
    for (let i = 0; i < 5; i++) round((now += 100), [a, b, x1])
    // SIGKILL: x1 stops; the others declare it dead.
    for (let i = 0; i < 10; i++) round((now += 100), [a, b])
    expect(a.membership.stateOf('x')).toBe('dead')
    const x2 = make('x', now - 30_000) // its clock is 30 s behind
    for (let i = 0; i < 5; i++) round((now += 100), [a, b, x2])
    expect(a.membership.stateOf('x')).toBe('alive')
    expect(b.membership.stateOf('x')).toBe('alive')
    for (let i = 0; i < 20; i++) round((now += 100), [a, b, x2])
    expect(b.membership.stateOf('x')).toBe('alive')
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

describe('membership on the link graph (simulated time)', () => {
  /**
   * Nodes linked as `edges` say, each edge's first node its dialer; a message is delivered at
   * once, and a link's frames refresh its peer's clock.
   */
  const mesh = (ids: string[], edges: Array<[string, string]>) => {
    const down = new Set<string>()
    const linked = (a: string, b: string) => edges.some(([x, y]) => (x === a && y === b) || (x === b && y === a))
    const dialed = (a: string, b: string) => edges.some(([x, y]) => x === a && y === b)
    const heard = new Map<string, number>()
    const sent = { records: 0, frames: 0 }
    const events: string[] = []
    const nodes = new Map<string, Membership>()
    let now = 0
    const paused = new Set<string>()
    const deliver = (from: string, to: string, records: MemberRecord[]) => {
      // A paused process reads nothing (what it missed is left out here).
      if (down.has(from) || down.has(to) || paused.has(to) || !linked(from, to)) return
      sent.frames++
      sent.records += records.length
      heard.set(`${to}<${from}`, now)
      nodes.get(to)?.receive(structuredClone(records), now, from, dialed(from, to))
    }
    for (const id of ids) {
      const peersOf = () => ids.filter((p) => p !== id && linked(id, p) && !down.has(p))
      const membership = new Membership(
        { id, name: id, url: `ws://${id}`, capabilities: [], meta: {}, startedAt: 0 },
        {
          broadcast: (records, except) => {
            for (const p of peersOf()) if (p !== except) deliver(id, p, records)
          },
          sendTo: (peer, records) => deliver(id, peer, records),
          // A killed peer's socket closes: its link is gone at once; a paused one stays, silent.
          links: () =>
            peersOf().map((peer) => ({
              peerId: peer,
              isOpen: true,
              lastReceivedAt: heard.get(`${id}<${peer}`) ?? now,
              role: dialed(id, peer) ? ('dialer' as const) : ('acceptor' as const),
            })),
          changed: (member) => events.push(`${id} sees ${member.id} ${member.state}`),
          tick: () => {},
          random: () => 0.5,
        },
        { heartbeatMs: 100, deadAfterMs: 500 },
      )
      nodes.set(id, membership)
    }
    const running = () => [...nodes].filter(([id]) => !down.has(id) && !paused.has(id))
    const round = () => {
      now += 100
      for (const [, m] of running()) m.tick(now)
      for (const [, m] of running()) m.refreshLinks(now)
    }
    // Link-up: each side sends its whole table, then lists the link.
    for (const [a, b] of edges) {
      linkMemberships(nodes, [a, b], now, deliver)
      nodes.get(a)?.refreshLinks(now)
      nodes.get(b)?.refreshLinks(now)
    }
    return {
      nodes,
      sent,
      events,
      round,
      get now() {
        return now
      },
      kill: (id: string) => {
        down.add(id)
        for (const [, m] of running()) m.refreshLinks(now)
      },
      pause: (id: string) => paused.add(id),
      resume: (id: string) => paused.delete(id),
      state: (at: string, of: string) => nodes.get(at)?.stateOf(of),
    }
  }

  it('keeps members two hops away alive with beats alone, and judges a killed one by the graph', () => {
    // A line a - b - c - d: a and d never talk.
    const m = mesh(
      ['a', 'b', 'c', 'd'],
      [
        ['a', 'b'],
        ['b', 'c'],
        ['c', 'd'],
      ],
    )
    m.round()
    expect(m.state('a', 'd')).toBe('alive')
    const before = { ...m.sent }
    for (let i = 0; i < 50; i++) m.round()
    // 5 s of idling: a beat per link every other heartbeat from its dialer, each answered, and a
    // whole table to one peer every 30 heartbeats (once here); no change, so no record travels
    // otherwise.
    expect(m.sent.frames - before.frames).toBe(25 * 6 + 4)
    expect(m.state('a', 'd')).toBe('alive')
    expect(m.events.filter((e) => !e.endsWith('alive'))).toEqual([])

    // d is killed: c drops it at once, and a, which never heard d's counter after the start,
    // judges it by the graph on the usual bounds.
    m.kill('d')
    const killedAt = m.now
    for (let i = 0; i < 100 && m.state('a', 'd') === 'alive'; i++) m.round()
    expect(m.state('a', 'd')).toBe('suspect')
    expect(m.now - killedAt).toBeGreaterThan(300)
    for (let i = 0; i < 100 && m.state('a', 'd') === 'suspect'; i++) m.round()
    expect(m.state('a', 'd')).toBe('dead')
    expect(m.now - killedAt).toBeGreaterThan(500)
    expect(m.now - killedAt).toBeLessThanOrEqual(700)
    expect(m.state('b', 'd')).toBe('dead')
    expect(m.state('a', 'c')).toBe('alive')
  })

  it('a paused member is dropped after three heartbeats of silence and comes back when it resumes', () => {
    const m = mesh(
      ['a', 'b', 'c'],
      [
        ['a', 'b'],
        ['b', 'c'],
      ],
    )
    m.round()
    m.pause('c')
    const pausedAt = m.now
    for (let i = 0; i < 100 && m.state('a', 'c') !== 'dead'; i++) m.round()
    // deadAfterMs plus the three heartbeats of silence before b drops its link to c.
    expect(m.now - pausedAt).toBeGreaterThan(500)
    expect(m.now - pausedAt).toBeLessThanOrEqual(900)
    m.resume('c')
    m.round()
    m.round()
    expect(m.state('a', 'c')).toBe('alive')
    expect(m.state('c', 'a')).toBe('alive')
  })

  it('a higher counter over a link is no sign of life, so late news cannot keep a dead member', () => {
    const m = mesh(['a', 'b'], [['a', 'b']])
    const x = recordOf('life-1', 5)
    const a = m.nodes.get('a') as Membership
    a.receive([x], m.now, 'b')
    for (let i = 0; i < 8; i++) m.round()
    expect(a.stateOf('x')).toBe('dead')
    a.receive([{ ...x, heartbeat: 40 }], m.now, 'b')
    m.round()
    expect(a.stateOf('x')).toBe('dead')
    // Without a link (a backbone's records), the counter is the sign of life.
    a.receive([{ ...x, heartbeat: 41 }], m.now)
    expect(a.stateOf('x')).toBe('alive')
  })

  it('a link listed by one end only does not reach a member', () => {
    const m = mesh(['a', 'b'], [['a', 'b']])
    const a = m.nodes.get('a') as Membership
    // x claims a link to b that b does not list.
    a.receive([{ ...recordOf('life-1', 5), links: ['b'] }], m.now, 'b')
    for (let i = 0; i < 8; i++) m.round()
    expect(a.stateOf('x')).toBe('dead')
  })

  it('a walk over crafted records that list each other by the thousand stops at its budget', () => {
    // A peer that passed the handshake could otherwise make every node walk millions of links
    // on every change (a review found 11 s a walk before the budget).
    const fakes = Array.from({ length: 1000 }, (_, i) => `f${i}`)
    const lists = new Map(fakes.map((id) => [id, ['self', ...fakes]]))
    expect(reachable('self', fakes, (id) => lists.get(id), 10_000).length).toBeLessThan(20)
    expect(reachable('self', fakes, (id) => lists.get(id))).toHaveLength(1000)
    expect(parseGossip(JSON.stringify([{ ...recordOf('i', 1), links: [...fakes, ...fakes] }]))[0]?.links).toHaveLength(
      1024,
    )
  })

  it('gossip with malformed links is refused', () => {
    expect(() => parseGossip(JSON.stringify([{ ...recordOf('i', 1), links: 'b' }]))).toThrow()
    expect(() => parseGossip(JSON.stringify([{ ...recordOf('i', 1), links: [1] }]))).toThrow()
    expect(parseGossip(JSON.stringify([{ ...recordOf('i', 1), links: ['b'] }]))[0]?.links).toEqual(['b'])
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
