import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { Membership, type MemberRecord } from '../src/membership/index.js'
import { linkMemberships } from './helpers.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))

const HEARTBEAT_MS = 100
const DEAD_AFTER_MS = 500

/**
 * Nodes on a random connected graph, each ticking on its own jittered clock as
 * `Membership.start` does (every 0.8 to 1.2 heartbeats, out of phase with the others), with
 * frames delivered at once. Time is simulated: each step runs the node whose tick comes first.
 * One end of each link dialed it: the dialer beats and the acceptor answers. Some ends behave
 * as nodes before that rule (both ends beat, nobody answers), as in a rolling upgrade.
 */
const jitteredMesh = (gen: prng.PRNG, size: number) => {
  const ids = Array.from({ length: size }, (_, i) => `n${String(i).padStart(2, '0')}`)
  const edges = new Set<string>()
  const key = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`)
  // A random spanning tree keeps the graph connected; random chords add the mesh's cycles.
  for (let i = 1; i < size; i++) edges.add(key(ids[i] as string, ids[prng.uint32(gen, 0, i - 1)] as string))
  for (let i = 0; i < size; i++) edges.add(key(ids[prng.uint32(gen, 0, size - 1)] as string, ids[i] as string))
  const linked = (a: string, b: string) => a !== b && edges.has(key(a, b))
  // Per link, the end that dialed it; ends that beat on their own schedule and never answer.
  const dialer = new Map([...edges].map((edge) => [edge, edge.split('|')[prng.uint32(gen, 0, 1)] as string]))
  const older = new Set(ids.filter(() => prng.uint32(gen, 0, 3) === 0))
  const role = (self: string, peer: string) =>
    older.has(self) ? undefined : dialer.get(key(self, peer)) === self ? ('dialer' as const) : ('acceptor' as const)
  const paused = new Set<string>()
  const heard = new Map<string, number>()
  const events: string[] = []
  const nodes = new Map<string, Membership>()
  const next = new Map<string, number>()
  let now = 0
  const deliver = (from: string, to: string, records: MemberRecord[]) => {
    if (paused.has(to) || !linked(from, to)) return
    heard.set(`${to}<${from}`, now)
    nodes.get(to)?.receive(structuredClone(records), now, from, role(to, from) === 'acceptor')
  }
  for (const id of ids) {
    const peers = () => ids.filter((p) => linked(id, p))
    nodes.set(
      id,
      new Membership(
        { id, name: id, url: `ws://${id}`, capabilities: [], meta: {}, startedAt: 0 },
        {
          broadcast: (records, except) => {
            for (const p of peers()) if (p !== except) deliver(id, p, records)
          },
          sendTo: (peer, records) => deliver(id, peer, records),
          links: () =>
            peers().map((peer) => ({
              peerId: peer,
              isOpen: true,
              lastReceivedAt: heard.get(`${id}<${peer}`) ?? 0,
              role: role(id, peer),
            })),
          changed: (member) => events.push(`${now}: ${id} sees ${member.id} ${member.state}`),
          tick: () => {},
          random: () => prng.real53(gen),
        },
        { heartbeatMs: HEARTBEAT_MS, deadAfterMs: DEAD_AFTER_MS },
      ),
    )
    next.set(id, prng.real53(gen) * HEARTBEAT_MS)
  }
  for (const edge of edges) linkMemberships(nodes, edge.split('|') as [string, string], now, deliver)
  /** Ticks at which a node listed fewer links than it has, while nothing was paused. */
  let flaps = 0
  /** Runs every tick due until `until`. */
  const runUntil = (until: number) => {
    for (;;) {
      let first: string | undefined
      for (const [id, at] of next)
        if (!paused.has(id) && (first === undefined || at < (next.get(first) ?? 0))) first = id
      if (first === undefined || (next.get(first) ?? 0) > until) break
      now = next.get(first) ?? 0
      const m = nodes.get(first) as Membership
      m.tick(now)
      m.refreshLinks(now)
      if (paused.size === 0 && m.self.links?.length !== ids.filter((p) => linked(first, p)).length) flaps++
      next.set(first, now + HEARTBEAT_MS * (0.8 + 0.4 * prng.real53(gen)))
    }
    now = until
  }
  return {
    ids,
    events,
    paused,
    runUntil,
    next,
    get flaps() {
      return flaps
    },
    state: (at: string, of: string) => nodes.get(at)?.stateOf(of),
    /** True when the others stay connected without `gone`. */
    connectedWithout: (gone: string) => {
      const rest = ids.filter((id) => id !== gone)
      const seen = new Set([rest[0] as string])
      for (const id of seen) for (const p of rest) if (linked(id, p)) seen.add(p)
      return seen.size === rest.length
    },
  }
}

describe(`membership with jittered, out-of-phase heartbeats (MESH_SEED=${seed})`, () => {
  it('an idle mesh never suspects a member, and a paused one is dead everywhere within the bound', () => {
    const gen = prng.create(seed)
    const m = jitteredMesh(gen, 16)
    // Every beat gap an honest node can produce, many times over: no one may even be suspected.
    m.runUntil(300 * HEARTBEAT_MS)
    expect(m.flaps).toBe(0)
    expect(m.events.filter((e) => !e.endsWith('alive'))).toEqual([])
    for (const a of m.ids) for (const b of m.ids) if (a !== b) expect(m.state(a, b)).toBe('alive')

    // A node whose pause leaves the others connected: a leaf behind it would be cut off, not wrong.
    const candidates = m.ids.filter((id) => m.connectedWithout(id))
    const victim = candidates[prng.uint32(gen, 0, candidates.length - 1)] as string
    const pausedAt = 300 * HEARTBEAT_MS
    m.paused.add(victim)
    const others = m.ids.filter((id) => id !== victim)
    m.runUntil(pausedAt + DEAD_AFTER_MS)
    // Not dead before deadAfterMs: its neighbours first wait out the link silence bound.
    for (const id of others) expect(m.state(id, victim)).not.toBe('dead')
    // Dead everywhere within deadAfterMs plus the silence bound (three heartbeats) and a tick
    // of 1.2 heartbeats each to notice and to spread it.
    m.runUntil(pausedAt + DEAD_AFTER_MS + 6 * HEARTBEAT_MS)
    for (const id of others) expect(m.state(id, victim)).toBe('dead')
    expect(m.events.filter((e) => !e.endsWith('alive') && !e.includes(`sees ${victim} `))).toEqual([])

    // Resumed, it is alive again everywhere within a few heartbeats.
    m.paused.delete(victim)
    m.next.set(victim, pausedAt + DEAD_AFTER_MS + 6 * HEARTBEAT_MS)
    m.runUntil(pausedAt + DEAD_AFTER_MS + 12 * HEARTBEAT_MS)
    for (const id of others) expect(m.state(id, victim)).toBe('alive')
  })
})
