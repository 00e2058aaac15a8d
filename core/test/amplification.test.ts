/**
 * What the fuzzer's amplification check found (issue 12: no amplification above 10× from
 * unauthenticated input): awareness states of a closed link that lingered 30 s, awareness
 * floods without a bound, answers to identical SyncStep1 requests encoded once per request,
 * anti-entropy checks each answered with a repair of the whole room, and slow readers of a room
 * that keeps changing, each pinning a whole answer of its own.
 */
import { nodeEvents, openRawSocket, waitUntil, type RawClient } from '@mesh/core/testing'
import { applyAwarenessUpdate } from 'y-protocols/awareness'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { YKeyValue } from 'y-utility/y-keyvalue'
import * as Y from 'yjs'
import { servedPerTest, type ServedNode } from './helpers.js'

const { start, cleanups } = servedPerTest()
const linked = (s: ServedNode, other: ServedNode) =>
  s.node.status().peers.some((p) => p.id === other.node.id && p.link === 'open')

/** A y-websocket client with an awareness state. */
const tab = (node: ServedNode, name: string) => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(node.url, 'default', doc, {
    WebSocketPolyfill: WebSocket as never,
    disableBc: true,
  })
  provider.awareness.setLocalState({ user: { name } })
  cleanups.push(() => provider.destroy())
  return provider
}

/** A y-protocols awareness update with `n` client ids from `first`. */
const awarenessFlood = (first: number, n: number): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, n)
  for (let i = 0; i < n; i++) {
    encoding.writeVarUint(e, first + i)
    encoding.writeVarUint(e, 1)
    encoding.writeVarString(e, '{"user":{"name":"flood"}}')
  }
  return encoding.toUint8Array(e)
}

describe('awareness', () => {
  it('states a peer relayed go as soon as its link closes, not 30 s later', async () => {
    const a = await start({ name: 'a' })
    const b = await start({ name: 'b' })
    await b.node.join([a.url])
    await waitUntil('linked', () => linked(a, b) && linked(b, a), { subscribe: nodeEvents(a.node, b.node) })
    const onA = tab(a, 'on-a')
    const onB = tab(b, 'on-b')
    const seesB = () =>
      [...onA.awareness.getStates().values()].some((s) => (s.user as { name?: string } | undefined)?.name === 'on-b')
    await waitUntil('the tab on a to see the tab on b', seesB, {
      subscribe: (wake) => {
        onA.awareness.on('change', wake)
        return () => onA.awareness.off('change', wake)
      },
    })
    expect(onB.awareness.getLocalState()).not.toBeNull()
    a.node.cut(b.node.id)
    // Well before the 30 s awareness timeout: the default wait gives up after 5 s.
    await waitUntil('the tab on a to lose the tab on b', () => !seesB(), {
      subscribe: (wake) => {
        onA.awareness.on('change', wake)
        return () => onA.awareness.off('change', wake)
      },
    })
    expect(a.node.room('default').awareness.getStates().size).toBe(1)
  })

  it('a room holds at most 10000 client ids, however many a peer relays', async () => {
    const a = await start({ name: 'a' })
    const b = await start({ name: 'b' })
    await b.node.join([a.url])
    await waitUntil('linked', () => linked(a, b) && linked(b, a), { subscribe: nodeEvents(a.node, b.node) })
    const onA = a.node.room('default').awareness
    // B relays 10050 clients in one frame (as a peer without the secret could send them).
    const flood = awarenessFlood(1000, 10_050)
    applyAwarenessUpdate(b.node.room('default').awareness, flood, 'test')
    await waitUntil('a to hold the clients b relayed', () => onA.getStates().size >= 10_000, {
      timeoutMs: 20_000,
      subscribe: (wake) => {
        onA.on('change', wake)
        return () => onA.off('change', wake)
      },
    })
    expect(onA.getStates().size).toBe(10_000)
  })
})

const MiB = 1024 * 1024
/** A y-protocols SyncStep1 with an empty state vector: "send me everything". */
const STEP1_EMPTY = new Uint8Array([0, 0, 1, 0])

/** Memory held in ArrayBuffers (where frames wait to be sent) after a full garbage collection. */
const liveBuffers = (): number => {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
  return process.memoryUsage().arrayBuffers
}

describe('slow readers', () => {
  it('of a room that keeps changing share one copy of it, and each still gets all of it', async () => {
    // A budget this large lets every answer out at once: what they cost is what is measured.
    const a = await start({ name: 'a', limits: { lightSendBudgetBytes: 1024 * MiB } })
    const roomBytes = 4 * MiB
    await a.node.put('blob', 'b'.repeat(roomBytes))
    const framesIn = () => a.node.metrics().find((m) => m.name === 'mesh_light_frames_in_total')?.values[0]?.value ?? 0
    const before = liveBuffers()
    const readers: RawClient[] = []
    const n = 12
    for (let i = 0; i < n; i++) {
      // Live traffic: the room changes between any two requests.
      await a.node.put('tick', i)
      const reader = await openRawSocket(`${a.url}/default`)
      cleanups.push(() => reader.socket.terminate())
      // It never reads: what the node answers waits in the node's memory (past what the kernel takes).
      reader.socket.pause()
      reader.socket.send(STEP1_EMPTY)
      readers.push(reader)
    }
    await waitUntil('the node to read every request', () => framesIn() >= n)
    const held = liveBuffers() - before
    // One answer each would be 12 × 4 MiB, less the little each socket's kernel buffers take.
    expect(held, 'bytes the slow readers pin').toBeLessThan(3 * roomBytes)

    // A reader that reads at last gets the whole room as it is now.
    await a.node.put('tick', 'last')
    const reader = readers[n - 1] as RawClient
    const doc = new Y.Doc()
    const kv = new YKeyValue<unknown>(doc.getArray('kv'))
    reader.socket.on('message', (data: Buffer) => {
      const d = decoding.createDecoder(data)
      if (decoding.readVarUint(d) !== 0 || decoding.readVarUint(d) === 0) return
      Y.applyUpdate(doc, decoding.readVarUint8Array(d))
    })
    reader.socket.resume()
    await waitUntil('the reader to hold the whole room', () => kv.get('tick') === 'last' && kv.has('blob'), {
      timeoutMs: 10_000,
    })
    expect((kv.get('blob') as string).length).toBe(roomBytes)
  })
})
