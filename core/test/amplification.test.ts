/**
 * What the fuzzer's amplification check found (issue 12: no amplification above 10× from
 * unauthenticated input): awareness states of a closed link that lingered 30 s, awareness
 * floods without a bound, answers to identical SyncStep1 requests encoded once per request,
 * and anti-entropy checks each answered with a repair of the whole room.
 */
import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { applyAwarenessUpdate } from 'y-protocols/awareness'
import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
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
