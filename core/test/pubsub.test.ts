import { createRestHandler, type AuthResult, type JsonValue, type MeshNode, type MeshNodeOptions } from '@mesh/core'
import { decodeLightFrame, MessageType } from '@mesh/core/browser'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as encoding from 'lib0/encoding'
import { encodeLight, encodePeer } from '../src/replication/index.js'
import { firstSeq, SEEN_MESSAGES, SeenIds } from '../src/routing/index.js'
import { memoryLogger, openSocket, rawPeer, servedPerTest, type ServedNode } from './helpers.js'

const { start, cleanups } = servedPerTest()

const quiet = { membership: { heartbeatMs: 100, deadAfterMs: 5000 } } satisfies MeshNodeOptions
/** Tokens the test's `authenticate` hook knows: `listener` may subscribe but not publish. */
const authenticate = ({ token }: { token: string | undefined }): AuthResult =>
  token === 'listener' ? { allow: true, publish: false } : true

/** What one subscriber (node handler or light peer) received, as `topic:payload` strings. */
type Inbox = string[]
const entry = (topic: string, payload: unknown) => `${topic}:${JSON.stringify(payload)}`

/** A light peer on a raw socket that speaks the pub/sub frames. */
const lightPeer = async (url: string, token?: string) => {
  const socket = await openSocket(`${url}/default${token ? `?token=${token}` : ''}`)
  cleanups.push(() => socket.ws.close())
  const inbox: Inbox = []
  const refused: string[] = []
  socket.ws.on('message', (data: Buffer) => {
    for (const m of decodeLightFrame(new Uint8Array(data))) {
      if (m.type === MessageType.message) inbox.push(entry(m.topic, JSON.parse(m.payload)))
      if (m.type === MessageType.refused) refused.push(m.reason)
    }
  })
  const wake = (fn: () => void) => {
    socket.ws.on('message', fn)
    return () => socket.ws.off('message', fn)
  }
  return {
    ...socket,
    inbox,
    refused,
    wake,
    subscribe: async (topic: string) => {
      socket.ws.send(encodeLight.topic(true, topic))
      // Frames of one socket are handled in order: once our own probe comes back (or its
      // refusal, for a peer that may not publish), the subscription is in place.
      const probe = `probe-${Math.random()}`
      const refusals = refused.length
      socket.ws.send(encodeLight.message(topic, JSON.stringify(probe)))
      await waitUntil(
        'own probe delivered or refused',
        () => inbox.includes(entry(topic, probe)) || refused.length > refusals,
        {
          subscribe: wake,
        },
      )
      if (inbox.includes(entry(topic, probe))) inbox.splice(inbox.indexOf(entry(topic, probe)), 1)
    },
    unsubscribe: (topic: string) => socket.ws.send(encodeLight.topic(false, topic)),
    publish: (topic: string, payload: JsonValue) => socket.ws.send(encodeLight.message(topic, JSON.stringify(payload))),
  }
}

const subscribeAll = (nodes: MeshNode[], topic: string) =>
  nodes.map((node) => {
    const inbox: Inbox = []
    const off = node.subscribe(topic, (payload, message) => {
      expect(message.topic).toBe(topic)
      inbox.push(entry(topic, payload))
    })
    return { inbox, off }
  })

/** Three nodes that never dial gossiped members: a chain a–b–c, so b must relay. */
const chain = async (options: MeshNodeOptions = {}): Promise<ServedNode[]> => {
  const served = []
  for (const name of ['a', 'b', 'c'])
    served.push(await start({ name, maxPeers: 0, authenticate, ...quiet, ...options }))
  const [a, b, c] = served as [ServedNode, ServedNode, ServedNode]
  await b.node.join([a.url])
  await c.node.join([b.url])
  return served
}

const sent = (node: MeshNode, name: string) => node.metrics().find((m) => m.name === name)?.values[0]?.value ?? 0

describe('pub/sub across the mesh', () => {
  it('3 nodes in a chain and 2 light peers: each subscriber gets each message exactly once', async () => {
    const served = await chain()
    const nodes = served.map((s) => s.node)
    const [a, b, c] = served as [ServedNode, ServedNode, ServedNode]
    const handlers = subscribeAll(nodes, 'news')
    const onA = await lightPeer(a.url)
    const onC = await lightPeer(c.url, 'listener')
    await onA.subscribe('news')
    await onC.subscribe('news')
    const inboxes = [...handlers.map((h) => h.inbox), onA.inbox, onC.inbox]

    a.node.publish('news', { from: 'a' })
    c.node.publish('news', { from: 'c' })
    const rest = createRestHandler(b.node)
    const answer = await rest({
      method: 'POST',
      path: '/publish/news',
      query: new URLSearchParams(),
      contentLength: 12,
      header: (name) => (name === 'content-type' ? 'application/json' : undefined),
      body: () => Promise.resolve('{"from":"b"}'),
    })
    expect(answer).toMatchObject({ status: 202, body: { topic: 'news', delivered: 1, relayed: 2 } })
    onA.publish('news', { from: 'light' })
    // Another topic reaches nobody here.
    b.node.publish('weather', 'rain')

    const expected = ['a', 'c', 'b', 'light'].map((from) => entry('news', { from })).sort()
    const wake = (fn: () => void) => {
      const offs = [nodeEvents(...nodes)(fn), onA.wake(fn), onC.wake(fn)]
      return () => offs.forEach((off) => off())
    }
    await waitUntil('every subscriber has the 4 messages', () => inboxes.every((i) => i.length >= 4), {
      subscribe: wake,
      intervalMs: 10,
    })
    // A fence published last from the far end: once it is everywhere, no copy can still be on its way in a chain.
    c.node.publish('news', 'fence')
    await waitUntil('the fence everywhere', () => inboxes.every((i) => i.includes(entry('news', 'fence'))), {
      subscribe: wake,
      intervalMs: 10,
    })
    const probe = /^news:"probe-/ // the light peer on a subscribed after the node handlers
    for (const inbox of inboxes) {
      expect(inbox.filter((e) => e !== entry('news', 'fence') && !probe.test(e)).sort()).toEqual(expected)
    }
    // b passed on what a, c and the light peer published (probes and fence too); a published its own and its light peer's.
    expect(sent(b.node, 'mesh_pubsub_relayed_total')).toBeGreaterThanOrEqual(4)
    expect(sent(a.node, 'mesh_pubsub_published_total')).toBe(3)
    // c counts what its handler and its light peer got (a's probe reached its light peer only if it subscribed first).
    expect(sent(c.node, 'mesh_pubsub_delivered_total')).toBe(handlers[2]!.inbox.length + onC.inbox.length)
  })

  it('a subscriber that throws a hostile value (its toString is no function) is logged; links and other subscribers go on', async () => {
    const served = await chain()
    const [a, b, c] = served as [ServedNode, ServedNode, ServedNode]
    const got: JsonValue[] = []
    b.node.subscribe('orders', (payload) => {
      // A common validation style: throw a copy of the input, which a publisher controls.
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- what the test is about: apps throw plain objects
      throw { ...(payload as object), reason: 'invalid order' }
    })
    b.node.subscribe('orders', (payload) => got.push(payload))
    const onC: JsonValue[] = []
    c.node.subscribe('orders', (payload) => onC.push(payload))
    for (let i = 0; i < 3; i++) a.node.publish('orders', { toString: 0, n: i })
    await waitUntil('c got every message', () => onC.length === 3, { subscribe: nodeEvents(c.node) })
    expect(got).toHaveLength(3)
    expect(b.node.status().peers.every((p) => p.link === 'open')).toBe(true)
  })

  it('unsubscribe stops delivery, for a node handler and a light peer', async () => {
    const served = await chain()
    const [a, , c] = served as [ServedNode, ServedNode, ServedNode]
    const nodes = served.map((s) => s.node)
    const [onA, , onC] = subscribeAll(nodes, 'news')
    const light = await lightPeer(c.url)
    await light.subscribe('news')
    onA!.off()
    onA!.off() // twice is harmless
    light.unsubscribe('news')
    // Its socket handles frames in order: once this subscription is in place, the unsubscribe is too.
    await light.subscribe('fence')
    a.node.publish('news', 1)
    a.node.publish('fence', 'end')
    await waitUntil('the fence reached the light peer', () => light.inbox.includes(entry('fence', 'end')), {
      subscribe: light.wake,
    })
    await waitUntil('c got the message', () => onC!.inbox.includes(entry('news', 1)), { subscribe: nodeEvents(c.node) })
    expect(onA!.inbox).toEqual([])
    expect(light.inbox).toEqual([entry('fence', 'end')])
  })

  it('a light peer allowed only to subscribe is refused when it publishes; nothing is delivered', async () => {
    const { logger, entries } = memoryLogger()
    const served = await chain({ logger })
    const [a, , c] = served as [ServedNode, ServedNode, ServedNode]
    const handlers = subscribeAll([a.node], 'news')
    const listener = await lightPeer(c.url, 'listener')
    await listener.subscribe('news') // its probe is refused too
    expect(listener.refused).toHaveLength(1)
    listener.refused.length = 0
    listener.publish('news', 'not allowed')
    await waitUntil('refused', () => listener.refused.length === 1, { subscribe: listener.wake })
    expect(listener.refused[0]).toMatch(/publish on "news" is not allowed/)
    expect(sent(c.node, 'mesh_pubsub_refused_total')).toBeGreaterThanOrEqual(2)
    expect(entries.some((e) => e.message === "refused a light peer's publish")).toBe(true)
    // It still receives what others publish, and its socket stays open.
    a.node.publish('news', 'allowed')
    await waitUntil('delivered to the listener', () => listener.inbox.includes(entry('news', 'allowed')), {
      subscribe: listener.wake,
    })
    expect(handlers[0]!.inbox).toEqual([entry('news', 'allowed')])
    expect(listener.ws.readyState).toBe(WebSocket.OPEN)
  })

  it("Mesh's own topics (mesh.*): a light peer or REST client publishes there only when its grant names them", async () => {
    const s = await start({
      name: 'solo',
      ...quiet,
      // `wide` may publish everywhere (true, or every topic by '*'); `counter` is granted the limiter's topics.
      authenticate: ({ token }) =>
        token === 'counter'
          ? { allow: true, publish: ['mesh.ratelimit/*'] }
          : token === 'wide'
            ? { allow: true, publish: ['*'] }
            : true,
    })
    const got: JsonValue[] = []
    s.node.subscribe('mesh.ratelimit/api', (payload) => got.push(payload))
    s.node.subscribe('chat', (payload) => got.push(payload))
    const anyone = await lightPeer(s.url)
    const wide = await lightPeer(s.url, 'wide')
    for (const peer of [anyone, wide]) {
      peer.publish('mesh.ratelimit/api', { forged: true })
      await waitUntil('refused', () => peer.refused.length === 1, { subscribe: peer.wake })
      expect(peer.refused[0]).toMatch(/publish on "mesh.ratelimit\/api" is not allowed/)
      peer.publish('chat', 'hello') // other topics as before
    }
    const rest = createRestHandler(s.node)
    const post = (topic: string, token?: string) =>
      rest({
        method: 'POST',
        path: `/publish/${encodeURIComponent(topic)}`,
        query: new URLSearchParams(),
        contentLength: 1,
        header: (name) =>
          name === 'content-type'
            ? 'application/json'
            : name === 'authorization' && token
              ? `Bearer ${token}`
              : undefined,
        body: () => Promise.resolve('1'),
      })
    expect(await post('mesh.ratelimit/api')).toMatchObject({ status: 403 })
    const counter = await lightPeer(s.url, 'counter')
    counter.publish('mesh.ratelimit/api', 'granted')
    expect(await post('mesh.ratelimit/api', 'counter')).toMatchObject({ status: 202 })
    await waitUntil('granted publishes delivered', () => got.length === 4)
    expect(got.sort()).toEqual([1, 'granted', 'hello', 'hello'].sort())
    expect(counter.refused).toEqual([])
  })

  it("Mesh's own topics (mesh.*): a light peer subscribes there only when its grant names them", async () => {
    const s = await start({
      name: 'solo',
      ...quiet,
      authenticate: ({ token }) =>
        token === 'counter'
          ? { allow: true, subscribe: ['mesh.ratelimit/*'] }
          : token === 'wide'
            ? { allow: true, subscribe: ['*'] }
            : token === 'all'
              ? { allow: true, subscribe: true }
              : true,
    })
    const anyone = await lightPeer(s.url)
    const wide = await lightPeer(s.url, 'wide')
    const all = await lightPeer(s.url, 'all')
    const counter = await lightPeer(s.url, 'counter')
    for (const peer of [anyone, wide, all]) {
      peer.ws.send(encodeLight.topic(true, 'mesh.ratelimit/api'))
      await waitUntil('refused', () => peer.refused.length === 1, { subscribe: peer.wake })
      expect(peer.refused[0]).toBe('subscribe on "mesh.ratelimit/api" is not allowed')
      await peer.subscribe('chat') // other topics as before
    }
    await counter.subscribe('mesh.ratelimit/api')
    s.node.publish('mesh.ratelimit/api', 'counts')
    s.node.publish('chat', 'hello')
    const everyone = [anyone, wide, all, counter]
    await waitUntil(
      'chat delivered',
      () => [anyone, wide, all].every((p) => p.inbox.includes(entry('chat', 'hello'))),
      {
        subscribe: (fn) => {
          const offs = everyone.map((p) => p.wake(fn))
          return () => offs.forEach((off) => off())
        },
      },
    )
    await waitUntil('counts delivered', () => counter.inbox.includes(entry('mesh.ratelimit/api', 'counts')), {
      subscribe: counter.wake,
    })
    // The node sent the counts before the chat message on every socket: the others never get them.
    for (const peer of [anyone, wide, all]) expect(peer.inbox.filter((e) => e.startsWith('mesh.'))).toEqual([])
  })

  it('in a full mesh, copies arriving over other paths are dropped: still exactly once', async () => {
    const a = await start({ name: 'a', ...quiet })
    const b = await start({ name: 'b', ...quiet })
    const c = await start({ name: 'c', ...quiet })
    await b.node.join([a.url])
    await c.node.join([a.url, b.url])
    const nodes = [a.node, b.node, c.node]
    await waitUntil('full mesh', () => nodes.every((n) => n.status().peers.length === 2), {
      subscribe: nodeEvents(...nodes),
    })
    const handlers = subscribeAll(nodes, 't')
    for (let i = 0; i < 20; i++) nodes[i % 3]!.publish('t', i)
    const fence = subscribeAll(nodes, 'fence')
    await waitUntil('20 messages everywhere', () => handlers.every((h) => h.inbox.length >= 20), {
      subscribe: nodeEvents(...nodes),
    })
    // Every copy that can still arrive was sent before each node's fence copies: wait for all of them.
    for (const n of nodes) n.publish('fence', n.name)
    await waitUntil(
      'every fence everywhere, and every duplicate dropped',
      () =>
        fence.every((f) => f.inbox.length === 3) &&
        nodes.reduce((sum, n) => sum + sent(n, 'mesh_pubsub_duplicates_total'), 0) === 23 * 2,
      { subscribe: nodeEvents(...nodes) },
    )
    for (const h of handlers) expect(h.inbox.sort()).toEqual(Array.from({ length: 20 }, (_, i) => entry('t', i)).sort())
  })

  it('hostile light frames close only the sender: a bad topic, a malformed frame, an oversized payload', async () => {
    const s = await start({ name: 'solo', limits: { peerMessageBytes: 8192 } })
    const good = await lightPeer(s.url)
    await good.subscribe('ok')
    const badTopic = await lightPeer(s.url)
    badTopic.ws.send(encodeLight.topic(true, ''))
    expect(await badTopic.closed).toMatchObject({ code: 4400 })
    const control = await lightPeer(s.url)
    control.publish('a\u0000b', 1)
    expect(await control.closed).toMatchObject({ code: 4400 })
    const malformed = await lightPeer(s.url)
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, MessageType.topic)
    encoding.writeVarUint(e, 7)
    encoding.writeVarString(e, 'ok')
    malformed.ws.send(encoding.toUint8Array(e))
    expect(await malformed.closed).toMatchObject({ code: 4400 })
    const notJson = await lightPeer(s.url)
    notJson.ws.send(encodeLight.message('ok', '{nope'))
    expect(await notJson.closed).toMatchObject({ code: 4400 })
    const oversized = await lightPeer(s.url)
    oversized.publish('ok', 'x'.repeat(8192)) // beyond what a peer link carries
    expect(await oversized.closed).toMatchObject({ code: 4413 })
    // The node and its good peer carry on.
    s.node.publish('ok', 'still here')
    await waitUntil('still delivered', () => good.inbox.includes(entry('ok', 'still here')), { subscribe: good.wake })
    expect(good.inbox).toEqual([entry('ok', 'still here')])
    const rejected = s.node.metrics().find((m) => m.name === 'mesh_rejected_total')?.values ?? []
    expect(rejected.find((v) => v.labels?.reason === 'bad_message')?.value).toBe(4)
  })

  it('node API and REST refuse bad input with typed errors', async () => {
    const s = await start({ name: 'solo', limits: { peerMessageBytes: 64 * 1024 } })
    expect(() => s.node.publish('', 1)).toThrow(expect.objectContaining({ code: 'bad_request' }))
    expect(() => s.node.subscribe('t', 1 as never)).toThrow(expect.objectContaining({ code: 'bad_request' }))
    expect(() => s.node.publish('t', 'x'.repeat(64 * 1024))).toThrow(expect.objectContaining({ code: 'too_large' }))
    const rest = createRestHandler(s.node)
    const post = (path: string, body: string) =>
      rest({
        method: 'POST',
        path,
        query: new URLSearchParams(),
        contentLength: body.length,
        header: (name) => (name === 'content-type' ? 'application/json' : undefined),
        body: () => Promise.resolve(body),
      })
    expect(await post(`/publish/${encodeURIComponent('a\u0001')}`, '1')).toMatchObject({
      status: 400,
      body: { error: 'a topic may not contain control characters' },
    })
    expect(await post('/publish/%E0%A4%A', '1')).toMatchObject({
      status: 400,
      body: { error: 'the topic must be valid percent-encoding' },
    })
    expect(await post('/publish/t', '{nope')).toMatchObject({ status: 400 })
    expect(await post('/publish/t', JSON.stringify('x'.repeat(64 * 1024)))).toMatchObject({ status: 413 })
    expect(await post('/publish/t', '"ok"')).toMatchObject({ status: 202, body: { delivered: 0, relayed: 0 } })
  })

  it('REST publish follows the hook: a listener gets 403, a read-only client granted publish may', async () => {
    const s = await start({
      name: 'solo',
      authenticate: ({ token }) =>
        token === 'listener' ? { allow: true, publish: false } : { allow: true, readOnly: true, publish: ['chat:*'] },
    })
    const rest = createRestHandler(s.node)
    const post = (path: string, token: string) =>
      rest({
        method: 'POST',
        path,
        query: new URLSearchParams(),
        contentLength: 1,
        header: (name) =>
          name === 'content-type' ? 'application/json' : name === 'authorization' ? `Bearer ${token}` : undefined,
        body: () => Promise.resolve('1'),
      })
    const got: JsonValue[] = []
    s.node.subscribe('chat:lobby', (payload) => got.push(payload))
    expect(await post('/publish/chat%3Alobby', 'listener')).toMatchObject({
      status: 403,
      body: { error: 'publish on "chat:lobby" is not allowed' },
    })
    expect(await post('/publish/news', 'reader')).toMatchObject({ status: 403 })
    expect(await post('/publish/chat%3Alobby', 'reader')).toMatchObject({ status: 202, body: { delivered: 1 } })
    expect(got).toEqual([1])
  })
})

describe('hostile publish frames from a peer', () => {
  it('close only the link that sent them; a good one is delivered once, its replay dropped', async () => {
    const s = await start({ name: 'solo' })
    const got: JsonValue[] = []
    s.node.subscribe('t', (payload) => got.push(payload))
    const good = { origin: 'raw', seq: 1, topic: 't', payload: '"hi"' }
    for (const frame of [
      encodePeer.publish({ ...good, payload: '{nope' }),
      encodePeer.publish({ ...good, payload: '['.repeat(100) + ']'.repeat(100) }),
      encodePeer.publish({ ...good, topic: '' }),
      encodePeer.publish({ ...good, origin: '' }),
    ]) {
      const peer = await rawPeer(s.url, cleanups)
      peer.ws.send(frame)
      expect(await peer.closed).toBe(4400)
    }
    const peer = await rawPeer(s.url, cleanups)
    peer.ws.send(encodePeer.publish(good))
    peer.ws.send(encodePeer.publish(good))
    peer.ws.send(encodePeer.publish({ ...good, seq: 2, payload: '"again"' }))
    await waitUntil('delivered', () => got.length === 2)
    expect(got).toEqual(['hi', 'again'])
    expect(sent(s.node, 'mesh_pubsub_duplicates_total')).toBe(1)
  })

  it('a copy arriving more than SEEN_MESSAGES behind the origin is dropped, and the window it would reset keeps its copies', async () => {
    const s = await start({ name: 'solo' })
    const got: JsonValue[] = []
    s.node.subscribe('t', (payload) => got.push(payload))
    const peer = await rawPeer(s.url, cleanups)
    const first = { origin: 'busy', seq: 1_000_000, topic: 't', payload: '"first"' }
    const later = { ...first, seq: first.seq + SEEN_MESSAGES + 10, payload: '"later"' }
    peer.ws.send(encodePeer.publish(first))
    peer.ws.send(encodePeer.publish(later))
    // Late copies, e.g. over a slow path of the mesh: the far-behind one used to reset the
    // origin's window, so both were delivered a second time.
    peer.ws.send(encodePeer.publish(first))
    peer.ws.send(encodePeer.publish(later))
    const marker = { ...later, seq: later.seq + 1, payload: '"marker"' }
    peer.ws.send(encodePeer.publish(marker))
    await waitUntil('marker delivered', () => got.includes('marker'))
    expect(got).toEqual(['first', 'later', 'marker'])
    expect(sent(s.node, 'mesh_pubsub_duplicates_total')).toBe(2)
  })

  it('a node restarted with the same id publishes seqs above its previous life, so its messages are new, not copies', async () => {
    const a = await start({ name: 'a', id: 'same-id', ...quiet })
    const b = await start({ name: 'b', ...quiet })
    const got: JsonValue[] = []
    b.node.subscribe('t', (payload) => got.push(payload))
    await b.node.join([a.url])
    await waitUntil('a linked', () => a.node.members().some((m) => m.id === b.node.id && m.state === 'alive'))
    const seqOf = (id: string) => Number(id.split('/')[0])
    let last = 0
    for (let i = 0; i < 5; i++) last = seqOf(a.node.publish('t', `old-${i}`).id)
    await waitUntil('old messages delivered', () => got.length === 5)
    await a.close()
    const again = await start({ name: 'a2', id: 'same-id', ...quiet })
    await again.node.join([b.url])
    await waitUntil('a2 linked', () => again.node.members().some((m) => m.id === b.node.id && m.state === 'alive'))
    expect(seqOf(again.node.publish('t', 'new').id)).toBeGreaterThan(last)
    await waitUntil('new message delivered', () => got.includes('new'))
  })
})

describe('SeenIds: the ids of messages a node handled', () => {
  it('finds copies in and out of order, counts what is a window behind as seen, follows an origin that restarts higher', () => {
    const seen = new SeenIds({ window: 64, maxOrigins: 2 })
    for (const seq of [1000, 1002, 1001, 1063]) {
      expect(seen.has('a', seq)).toBe(false)
      seen.add('a', seq)
      expect(seen.has('a', seq)).toBe(true)
    }
    expect([1000, 1001, 1002, 1003].map((s) => seen.has('a', s))).toEqual([true, true, true, false])
    seen.add('a', 1064) // 1000 leaves the window: only a very late copy can still bring it
    expect([seen.has('a', 1000), seen.has('a', 5), seen.has('a', 1003)]).toEqual([true, true, false])
    expect(seen.has('b', 1001)).toBe(false)
    seen.add('a', 5) // changes nothing: the window stays where it is
    expect([seen.has('a', 1064), seen.has('a', 1063), seen.has('a', 1062)]).toEqual([true, true, false])
    // A restarted origin starts higher (its seqs follow its clock): new ids, not copies.
    expect(firstSeq(2_000) - firstSeq(1_999)).toBeGreaterThan(1000)
    seen.add('a', 1_000_000)
    expect([seen.has('a', 1_000_000), seen.has('a', 999_999)]).toEqual([true, false])
    seen.add('b', 1)
    seen.add('c', 1) // a third origin evicts the first one heard of
    expect([seen.has('a', 1_000_000), seen.has('b', 1), seen.has('c', 1), seen.size]).toEqual([false, true, true, 2])
  })
})
