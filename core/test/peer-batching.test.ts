import type { JsonValue, MeshNode, MeshNodeOptions } from '@mesh/core'
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import {
  decodeBatched,
  decodePeer,
  directEncoder,
  encodePeer,
  writeAwarenessEntries,
  writePeer,
  type CallMessage,
} from '../src/replication/index.js'
import { FrameBatch } from '../src/replication/frame-batch.js'
import { internalRoom, rawPeer, servedPerTest, serveNode, type ServedNode } from './helpers.js'

const { start, cleanups } = servedPerTest()

/** A low message rate, so an honest burst crosses it many times over. */
const limited = {
  limits: { peerMessagesPerSecond: 200 },
  membership: { heartbeatMs: 100, deadAfterMs: 5000 },
} satisfies MeshNodeOptions

const metric = (node: MeshNode, name: string) =>
  node
    .metrics()
    .find((m) => m.name === name)
    ?.values.reduce((sum, v) => sum + v.value, 0) ?? 0

const fullMesh = async (options: MeshNodeOptions): Promise<ServedNode[]> => {
  const served = [await start({ name: 'a', ...options }), await start({ name: 'b', ...options })]
  served.push(await start({ name: 'c', ...options }))
  const [a, b, c] = served as [ServedNode, ServedNode, ServedNode]
  await b.node.join([a.url])
  await c.node.join([a.url, b.url])
  const nodes = served.map((s) => s.node)
  await waitUntil('full mesh', () => nodes.every((n) => n.status().peers.length === 2), {
    subscribe: nodeEvents(...nodes),
  })
  return served
}

describe('an honest burst above the peer message rate', () => {
  it('publishes 5,000 messages (25 s of the limit) in 50 turns: every subscriber gets each once, no link closes', async () => {
    const served = await fullMesh(limited)
    const nodes = served.map((s) => s.node)
    const downs: string[] = []
    for (const n of nodes) n.on('peer:down', (e) => downs.push(`${n.name}: ${e.id}`))
    const inboxes = nodes.map((n) => {
      const inbox: JsonValue[] = []
      n.subscribe('burst', (payload) => inbox.push(payload))
      return inbox
    })
    for (let turn = 0; turn < 50; turn++) {
      for (let i = 0; i < 100; i++) nodes[0]!.publish('burst', turn * 100 + i)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await waitUntil('5,000 messages everywhere', () => inboxes.every((inbox) => inbox.length >= 5000), {
      subscribe: nodeEvents(...nodes),
      intervalMs: 20,
    })
    for (const inbox of inboxes) expect(inbox).toEqual(Array.from({ length: 5000 }, (_, i) => i))
    expect(downs).toEqual([])
    for (const n of nodes) expect(metric(n, 'mesh_rejected_total')).toBe(0)
  })

  it('2,000 routed calls in flight at once all answer, and the links stay up', async () => {
    const served = await fullMesh(limited)
    const nodes = served.map((s) => s.node)
    for (const n of nodes) {
      n.actor('echo', () => ({ call: (payload: JsonValue) => payload }))
      n.setCapabilities(['echo'])
    }
    await waitUntil(
      'echo declared everywhere',
      () => nodes.every((n) => n.members().filter((m) => m.capabilities.includes('echo')).length === 3),
      { subscribe: nodeEvents(...nodes) },
    )
    const answers = await Promise.all(
      Array.from({ length: 2000 }, (_, i) => nodes[0]!.call<number>({ capability: 'echo', id: `id-${i}`, payload: i })),
    )
    expect(answers).toEqual(Array.from({ length: 2000 }, (_, i) => i))
    for (const n of nodes) expect(n.status().peers.length).toBe(2)
  })
})

describe('hostile batch frames from a peer', () => {
  it('close only the link that sent them; a good batch is handled in order', async () => {
    const s = await start({ name: 'solo' })
    const got: JsonValue[] = []
    s.node.subscribe('t', (payload) => got.push(payload))
    const publish = (seq: number, payload = JSON.stringify(seq)) =>
      encodePeer.publish({ origin: 'raw', seq, topic: 't', payload })
    const tooMany = Array.from({ length: 1025 }, (_, i) => publish(i + 1))
    for (const frame of [
      encodePeer.batch([publish(1), encodePeer.batch([publish(2)])]),
      encodePeer.batch([publish(1), encodePeer.part(10, new Uint8Array(10))]),
      encodePeer.batch([publish(1), new Uint8Array([250, 1, 2])]),
      encodePeer.batch(tooMany),
      encodePeer.batch([
        encodePeer.hello({ nodeId: 'x', name: 'x', url: '', clientId: 1, onConflict: 'merge', nonce: 'n', proof: '' }),
      ]),
      encodePeer.batch([publish(1), publish(2, '{nope')]),
      encodePeer.batch([publish(1, JSON.stringify('x'.repeat(20_000)))]),
    ]) {
      const peer = await rawPeer(s.url, cleanups)
      peer.ws.send(frame)
      expect(await peer.closed).toBe(4400)
    }
    const peer = await rawPeer(s.url, cleanups)
    peer.ws.send(encodePeer.batch([publish(101), publish(102), publish(101), publish(103)]))
    await waitUntil('delivered', () => got.length >= 3)
    // Hostile batches closed their links part way: a message handled before the bad frame was delivered.
    expect(got.slice(-3)).toEqual([101, 102, 103])
    expect(s.node.status().peers.length).toBe(1)
    expect(s.node.closed).toBe(false)
  })
})

describe('frames written straight into a batch', () => {
  it('are the bytes encodePeer makes: calls and answers with ASCII and other text, alone and batched', async () => {
    const calls: CallMessage[] = ['user-42', 'ü-ñ-😀', 'x'.repeat(200)].map((id, i) => ({
      callId: 1 + i * 1000,
      capability: 'counter',
      id,
      target: 'node-b',
      flags: i,
      timeoutMs: 5000,
      payload: JSON.stringify({ add: i, note: id }),
    }))
    const frames = [
      ...calls.map((c) => encodePeer.call(c)),
      encodePeer.answer(7, 'ok', '{"n":1}'),
      encodePeer.answer(8, 'actor_failed', 'näh'),
    ]
    const sent: Uint8Array[] = []
    const batch = new FrameBatch({ send: (frame) => sent.push(frame), maxBytes: 1 << 20 })
    for (const c of calls) expect(batch.addEncoded(writePeer.call(directEncoder(), c))).toBe(true)
    batch.add(frames[3]!)
    expect(batch.addEncoded(writePeer.answer(directEncoder(), 8, 'actor_failed', 'näh'))).toBe(true)
    batch.flush()
    expect(sent).toEqual([encodePeer.batch(frames)])
    batch.addEncoded(writePeer.call(directEncoder(), calls[1]!))
    await new Promise((resolve) => setImmediate(resolve))
    expect(sent[1]).toEqual(frames[1])
    expect(decodePeer(sent[1]!)).toEqual({ type: 30, ...calls[1] })
    batch.add(frames[0]!)
    batch.flush()
    expect(sent[2]).toBe(frames[0])
  })

  it('a batched frame whose last field runs into the next frame is refused', () => {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 31)
    encoding.writeVarUint(e, 1)
    encoding.writeVarUint(e, 0)
    encoding.writeVarUint(e, 4)
    encoding.writeUint8Array(e, new Uint8Array([0x7b, 0x7d]))
    const short = encoding.toUint8Array(e)
    const batch = decodePeer(encodePeer.batch([short, encodePeer.answer(2, 'ok', 'null')]))
    if (batch.type !== 40) throw new Error('not a batch')
    expect(() => decodeBatched(batch.frames)).toThrow(/past the end/)
  })
})

describe('hostile awareness from a peer', () => {
  it('removals of 20,000 client ids the room never had leave no trace; a real removal still applies', async () => {
    const s = await start({ name: 'solo' })
    const { ws } = await rawPeer(s.url, cleanups)
    const room = internalRoom(s.node)
    const state = (clientId: number, value: string) => ({ clientId, clock: 1, state: JSON.stringify({ user: value }) })
    ws.send(encodePeer.roomAwareness('default', writeAwarenessEntries([state(1, 'ada')])))
    await waitUntil('state applied', () => room.awareness.getStates().has(1))
    const removals = Array.from({ length: 20_000 }, (_, i) => ({ clientId: 1000 + i, clock: 5, state: 'null' }))
    ws.send(
      encodePeer.roomAwareness(
        'default',
        writeAwarenessEntries([...removals, { clientId: 1, clock: 2, state: 'null' }]),
      ),
    )
    await waitUntil('real removal applied', () => !room.awareness.getStates().has(1))
    expect(room.awareness.meta.size).toBeLessThan(10)
  })
})

describe('closing', () => {
  it("a node's last frames and its leave reach its peers even when its sockets are destroyed right after close()", async () => {
    const [a, b] = [await serveNode({ name: 'a' }), await start({ name: 'b' })] as const
    await b.node.join([a.url])
    const got: JsonValue[] = []
    b.node.subscribe('t', (payload) => got.push(payload))
    const down = new Promise<boolean | undefined>((resolve) => b.node.on('peer:down', (e) => resolve(e.graceful)))
    for (let i = 0; i < 100; i++) a.node.publish('t', i)
    // What an app's shutdown does: close the node, then the HTTP server's connections at once.
    await a.close()
    expect(await down).toBe(true)
    expect(got).toHaveLength(100)
  })
})
