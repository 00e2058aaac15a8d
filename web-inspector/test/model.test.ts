import type { Commit, FeedMessage, Member, NodeStatus, PeerStatus } from '@mesh/core'
import { describe, expect, it } from 'vitest'
import type { FeedHandlers, FeedState } from '../src/feed.js'
import { ClusterModel, feedUrlOf, httpBaseOf } from '../src/model.js'
import { compareStateVectors } from '../src/relation.js'

/** A feed the test drives by hand. */
interface FakeFeed {
  url: string
  handlers: FeedHandlers
  resyncs: number
  stopped: boolean
  send(message: FeedMessage): void
  state(state: FeedState): void
}

const setup = (options: { now?: () => number } = {}) => {
  const feeds = new Map<string, FakeFeed>()
  let updates = 0
  const model = new ClusterModel({
    now: options.now,
    onUpdate: () => updates++,
    openFeed: (url, handlers) => {
      const feed: FakeFeed = {
        url,
        handlers,
        resyncs: 0,
        stopped: false,
        send: (message) => handlers.message(message),
        state: (state) => handlers.state(state),
      }
      feeds.set(url, feed)
      return {
        resync: () => {
          feed.resyncs++
        },
        stop: () => void (feed.stopped = true),
      }
    },
  })
  const feed = (name: string): FakeFeed => {
    const found = feeds.get(feedUrlOf(urlOf(name)))
    if (!found) throw new Error(`no feed opened for ${name}`)
    return found
  }
  return { model, feeds, feed, updates: () => updates }
}

const PORTS: Record<string, number> = { a: 4001, b: 4002, c: 4003, d: 4004 }
const urlOf = (name: string) => `ws://127.0.0.1:${PORTS[name] ?? 4999}/mesh`
const idOf = (name: string) => `id-${name}`

const member = (name: string, state: Member['state'] = 'alive'): Member => ({
  id: idOf(name),
  name,
  url: urlOf(name),
  role: 'node',
  capabilities: [],
  state,
  startedAt: 0,
  lastSeen: 0,
  meta: {},
})

const peer = (name: string, link: PeerStatus['link'], roomState: 'synced' | 'quarantined' = 'synced'): PeerStatus => ({
  id: idOf(name),
  name,
  url: urlOf(name),
  direction: 'outgoing',
  link,
  relation: link === 'open' ? 'equal' : null,
  rooms: link === 'open' ? { default: { state: roomState, relation: 'equal' } } : {},
})

const status = (name: string, options: { sv?: Record<string, number>; peers?: PeerStatus[] } = {}): NodeStatus => ({
  id: idOf(name),
  name,
  url: urlOf(name),
  onConflict: 'merge',
  stateVector: options.sv ?? {},
  rooms: {},
  peers: options.peers ?? [],
  lightPeers: 0,
  conflicts: [],
  commits: 0,
})

const hello = (
  name: string,
  options: {
    data?: Record<string, unknown>
    members?: Member[]
    sv?: Record<string, number>
    history?: Commit[]
    /** Node id, when not `id-<name>`. */
    id?: string
  } = {},
): FeedMessage => ({
  type: 'hello',
  time: 0,
  status: { ...status(name, options), id: options.id ?? idOf(name) },
  members: options.members ?? [member('a'), member('b'), member('c')],
  data: (options.data ?? {}) as Record<string, never>,
  history: options.history ?? [],
})

/** Opens a, discovers b and c, and loads all three with `data` (same on each unless given). */
const cluster = (data: Record<string, Record<string, unknown>> = {}, sv: Record<string, number> = { '1': 1 }) => {
  const t = setup()
  t.model.start(urlOf('a'))
  for (const name of ['a', 'b', 'c']) {
    if (name !== 'a') expect(t.feeds.has(feedUrlOf(urlOf(name)))).toBe(true)
    t.feed(name).state('open')
    t.feed(name).send(hello(name, { data: data[name] ?? {}, sv }))
  }
  return t
}

describe('ClusterModel', () => {
  it('derives the feed and REST URLs from a peer URL', () => {
    expect(feedUrlOf('ws://127.0.0.1:4000/mesh/')).toBe('ws://127.0.0.1:4000/mesh/_inspect')
    expect(httpBaseOf('ws://127.0.0.1:4000/mesh')).toBe('http://127.0.0.1:4000/mesh')
    expect(httpBaseOf('wss://example.com/x/mesh')).toBe('https://example.com/x/mesh')
  })

  it('discovers every node member from the first feed and follows each node once', () => {
    const t = setup()
    t.model.start('ws://localhost:4001/mesh')
    const first = t.feeds.get('ws://localhost:4001/mesh/_inspect')
    first?.state('open')
    first?.send(hello('a'))
    // b and c are discovered; a is known by id, so its advertised URL opens no second feed.
    expect([...t.feeds.keys()].sort()).toEqual([
      'ws://127.0.0.1:4002/mesh/_inspect',
      'ws://127.0.0.1:4003/mesh/_inspect',
      'ws://localhost:4001/mesh/_inspect',
    ])
    expect(t.model.nodes().map((n) => n.name)).toEqual(['127.0.0.1:4002', '127.0.0.1:4003', 'a'])
    t.feed('b').state('open')
    t.feed('b').send(hello('b'))
    expect(t.model.nodes().map((n) => n.name)).toEqual(['127.0.0.1:4003', 'a', 'b'])
  })

  it('drops a second feed that reaches an already followed node', () => {
    const t = cluster()
    // d's member list names a under another URL; that feed's hello reveals the same id.
    t.feed('a').send({
      type: 'status',
      time: 0,
      status: status('a'),
      members: [member('a'), { ...member('d'), id: idOf('a') }],
    })
    expect(t.feeds.has(feedUrlOf(urlOf('d')))).toBe(false)
    expect(t.model.nodes().map((n) => n.name)).toEqual(['a', 'b', 'c'])
  })

  it('marks keys divergent when reachable nodes hold different values, and clears them on change', () => {
    const t = cluster({ a: { k: 1, same: 'x' }, b: { k: 1, same: 'x' }, c: { k: 2, same: 'x' } })
    expect([...t.model.divergentKeys()]).toEqual(['k'])
    expect(t.model.keys()).toEqual(['k', 'same'])
    t.feed('c').send({
      type: 'change',
      time: 0,
      room: 'default',
      origin: idOf('c'),
      local: true,
      values: { k: 1 },
      removed: [],
      more: [],
    })
    expect(t.model.divergentKeys().size).toBe(0)
    // A key only one node has is divergent too.
    t.feed('a').send({
      type: 'change',
      time: 0,
      room: 'default',
      origin: idOf('a'),
      local: true,
      values: { n: true },
      removed: [],
      more: [],
    })
    expect([...t.model.divergentKeys()]).toEqual(['n'])
    expect(t.model.filteredKeys('', true)).toEqual(['n'])
    expect(t.model.filteredKeys('SA', false)).toEqual(['same'])
    // Removal (null) on a: nobody holds it any more.
    t.feed('a').send({
      type: 'change',
      time: 0,
      room: 'default',
      origin: idOf('a'),
      local: true,
      values: {},
      removed: ['n'],
      more: [],
    })
    expect(t.model.keys()).toEqual(['k', 'same'])
    expect(t.model.divergentKeys().size).toBe(0)
  })

  it('leaves an unreachable node out of the divergence check and asks others about it', () => {
    const t = cluster({ a: { k: 1 }, b: { k: 1 }, c: { k: 2 } })
    expect(t.model.divergentKeys().has('k')).toBe(true)
    t.feed('c').state('closed')
    expect(t.model.divergentKeys().has('k')).toBe(false)
    const c = t.model.node(idOf('c'))
    expect(c && t.model.health(c)).toBe('unreachable')
    t.feed('a').send({
      type: 'status',
      time: 0,
      status: status('a'),
      members: [member('a'), member('b'), member('c', 'dead')],
    })
    expect(c && t.model.health(c)).toBe('dead')
  })

  it('asks for a fresh hello when a change lists more keys than it carries', () => {
    const t = cluster()
    t.feed('b').send({
      type: 'change',
      time: 0,
      room: 'default',
      origin: idOf('b'),
      local: true,
      values: {},
      removed: [],
      more: ['x'],
    })
    t.feed('b').send({
      type: 'change',
      time: 0,
      room: 'default',
      origin: idOf('b'),
      local: true,
      values: {},
      removed: [],
      more: ['y'],
    })
    expect(t.feed('b').resyncs).toBe(1)
    t.feed('b').send(hello('b', { data: { x: 1, y: 2 } }))
    expect(t.model.node(idOf('b'))?.data.get('y')).toBe('2')
  })

  it('merges both ends of a link into one state: connected, cut, reconnecting, quarantined', () => {
    const t = cluster()
    const [a, b, c] = ['a', 'b', 'c'].map((n) => t.model.node(idOf(n)))
    if (!a || !b || !c) throw new Error('nodes missing')
    const report = (name: string, peers: PeerStatus[]) =>
      t.feed(name).send({
        type: 'status',
        time: 0,
        status: status(name, { peers }),
        members: [member('a'), member('b'), member('c')],
      })
    report('a', [peer('b', 'open'), peer('c', 'dormant')])
    report('b', [peer('c', 'waiting')])
    report('c', [])
    expect(t.model.linkState(a, b)).toBe('connected')
    expect(t.model.linkState(a, c)).toBe('cut')
    expect(t.model.linkState(b, c)).toBe('reconnecting')
    report('b', [peer('c', 'open', 'quarantined')])
    expect(t.model.linkState(b, c)).toBe('quarantined')
    // The control API's answer alone is enough to call it cut.
    report('a', [])
    t.model.setCuts(idOf('b'), [idOf('a')])
    expect(t.model.linkState(a, b)).toBe('cut')
    expect(t.model.links().map((l) => `${l.a.name}-${l.b.name}:${l.state}`)).toEqual([
      'a-b:cut',
      'a-c:none',
      'b-c:quarantined',
    ])
  })

  it('compares state vectors live: equal, ahead, behind, diverged', () => {
    expect(compareStateVectors({ 1: 2 }, { 1: 2 })).toBe('equal')
    expect(compareStateVectors({ 1: 3 }, { 1: 2 })).toBe('ahead')
    expect(compareStateVectors({ 1: 2 }, { 1: 2, 2: 1 })).toBe('behind')
    expect(compareStateVectors({ 1: 3 }, { 1: 2, 2: 1 })).toBe('diverged')
    const t = cluster({}, { '1': 1 })
    const [a, b] = ['a', 'b'].map((n) => t.model.node(idOf(n)))
    t.feed('a').send({ type: 'status', time: 0, status: status('a', { sv: { '1': 2 } }), members: [] })
    expect(a && b && t.model.relation(a, b)).toBe('ahead')
  })

  it('groups merge reports into one episode with both values and the winner, closed once all agree', () => {
    let now = 1000
    const t = setup({ now: () => now })
    t.model.start(urlOf('a'))
    for (const name of ['a', 'b', 'c']) {
      t.feed(name).state('open')
      t.feed(name).send(hello(name, { data: { k: name === 'c' ? 'green' : 'red' }, sv: { '1': 1 } }))
    }
    const merge = (name: string, peerName: string, local: string, remote: string): FeedMessage => ({
      type: 'merge',
      time: 5000,
      report: {
        peer: idOf(peerName),
        room: 'default',
        relation: 'diverged',
        policy: 'merge',
        conflicts: [{ key: 'k', local, remote, winner: 'green' }],
      },
    })
    t.feed('a').send(merge('a', 'c', 'red', 'green'))
    t.feed('c').send(merge('c', 'a', 'green', 'red'))
    // An equal-history merge is noise, not an episode.
    t.feed('b').send({
      type: 'merge',
      time: 5001,
      report: { peer: idOf('a'), room: 'default', relation: 'equal', policy: 'merge', conflicts: [] },
    })
    const [episode] = t.model.episodes()
    expect(t.model.episodes()).toHaveLength(1)
    expect(episode?.merges).toHaveLength(2)
    const conflict = episode?.conflicts.get('k')
    expect(conflict && Object.fromEntries(conflict.values)).toEqual({ [idOf('a')]: '"red"', [idOf('c')]: '"green"' })
    expect(conflict?.winner).toBe('"green"')
    expect(episode?.agreedAt).toBeUndefined()
    now = 1200
    for (const name of ['a', 'b']) {
      t.feed(name).send({
        type: 'change',
        time: 0,
        room: 'default',
        origin: idOf('c'),
        local: false,
        values: { k: 'green' },
        removed: [],
        more: [],
      })
    }
    expect(episode?.agreedAt).toBe(1200)
    expect(episode?.agreedNodes).toBe(3)
    expect(t.model.agreed()).toBe(true)
    // Much later, a new heal starts a new episode.
    now = 60_000
    t.feed('a').send(merge('a', 'b', 'x', 'y'))
    expect(t.model.episodes()).toHaveLength(2)
  })

  it('records quarantines from conflict events', () => {
    const t = cluster()
    t.feed('a').send({
      type: 'conflict',
      time: 1,
      policy: 'exception',
      peer: idOf('c'),
      room: 'default',
      keys: [{ key: 'k', local: 1, remote: 2 }],
    })
    expect(t.model.episodes()[0]?.quarantines).toEqual([
      { time: 1, node: idOf('a'), peer: idOf('c'), room: 'default', policy: 'exception', keys: ['k'] },
    ])
  })

  it('keeps the commit log per node, filters it, and names multi-author origins', () => {
    const commit = (seq: number, origin: string, keys: string[]): Commit => ({
      seq,
      room: 'default',
      origin,
      via: 'local',
      time: seq,
      bytes: 10,
      keys,
    })
    const t = setup()
    t.model.start(urlOf('a'))
    t.feed('a').state('open')
    t.feed('a').send(hello('a', { history: [commit(1, idOf('a'), ['x']), commit(2, idOf('a'), ['y'])] }))
    t.feed('b').state('open')
    t.feed('b').send(hello('b'))
    t.feed('b').send({ type: 'commit', time: 3, commit: commit(3, `${idOf('a')},${idOf('c')}`, ['x']) })
    expect(t.model.commits().map((c) => c.seq)).toEqual([3, 2, 1])
    expect(t.model.commits({ on: idOf('b') }).map((c) => c.seq)).toEqual([3])
    expect(t.model.commits({ key: 'x' }).map((c) => c.seq)).toEqual([3, 1])
    expect(t.model.commits({ origin: idOf('c') }).map((c) => c.seq)).toEqual([3])
    expect(t.model.nameOf(`${idOf('a')},${idOf('c')}`)).toBe('a, c')
    // A reconnect's hello replaces that node's commits instead of doubling them.
    t.feed('a').send(hello('a', { history: [commit(1, idOf('a'), ['x']), commit(2, idOf('a'), ['y'])] }))
    expect(t.model.commits()).toHaveLength(3)
  })

  it('stops following a node that left gracefully', () => {
    const t = cluster()
    t.feed('c').state('closed')
    t.feed('a').send({
      type: 'status',
      time: 0,
      status: status('a'),
      members: [member('a'), member('b'), member('c', 'left')],
    })
    const c = t.model.node(idOf('c'))
    expect(c?.left).toBe(true)
    expect(t.feed('c').stopped).toBe(true)
    expect(t.model.links().some((l) => l.a === c || l.b === c)).toBe(false)
  })

  it('follows a node restarted at the same URL under its new id', () => {
    const t = cluster({ c: { k: 1 } })
    t.feed('c').state('closed')
    t.feed('c').state('open')
    t.feed('c').send(hello('c', { data: { k: 2 }, id: 'id-c2' }))
    expect(t.model.node('id-c')).toBeUndefined()
    expect(t.model.node('id-c2')?.data.get('k')).toBe('2')
    expect(t.model.nodes().map((n) => n.name)).toEqual(['a', 'b', 'c'])
  })

  it('handles 10 nodes × 10k keys and a change without rescanning everything', () => {
    const names = Array.from({ length: 10 }, (_, i) => `n${i}`)
    const members = names.map((n, i) => ({ ...member(n), url: `ws://127.0.0.1:${5000 + i}/mesh` }))
    const data = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`key:${i}`, { i }]))
    const t = setup()
    t.model.start(members[0]?.url ?? '')
    const started = performance.now()
    for (const m of members) {
      const feed = t.feeds.get(feedUrlOf(m.url))
      if (!feed) throw new Error(`no feed for ${m.name}`)
      feed.state('open')
      feed.send(hello(m.name, { data, members }))
    }
    const last = t.feeds.get(feedUrlOf(members[9]?.url ?? ''))
    last?.send({
      type: 'change',
      time: 0,
      room: 'default',
      origin: 'x',
      local: true,
      values: { 'key:5': 'changed' },
      removed: [],
      more: [],
    })
    expect(t.model.keys()).toHaveLength(10_000)
    expect([...t.model.divergentKeys()]).toEqual(['key:5'])
    expect(t.model.filteredKeys('key:99', false)).toHaveLength(111)
    // Generous bound: it is about orders of magnitude (seconds would freeze the page), not speed.
    expect(performance.now() - started).toBeLessThan(10_000)
  })
})
