import { nodeEvents, waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { YKeyValue } from 'y-utility/y-keyvalue'
import { openSocket, serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
const providers: WebsocketProvider[] = []
afterEach(async () => {
  for (const p of providers.splice(0)) p.destroy()
  for (const s of served.splice(0)) await s.close()
})

const provider = (node: ServedNode, room = 'default') => {
  const doc = new Y.Doc()
  // disableBc: otherwise providers in one process sync over BroadcastChannel and skip the server.
  const p = new WebsocketProvider(node.url, room, doc, { WebSocketPolyfill: WebSocket as never, disableBc: true })
  providers.push(p)
  return { doc, provider: p, kv: new YKeyValue<unknown>(doc.getArray('kv')) }
}

const synced = (p: WebsocketProvider) =>
  p.synced ? Promise.resolve() : new Promise<void>((resolve) => p.once('sync', () => resolve()))

describe('light peers with the real y-websocket client', () => {
  it('a client write reaches every node, and a node write reaches the client', async () => {
    const a = await serveNode({ name: 'a' })
    const b = await serveNode({ name: 'b' })
    served.push(a, b)
    await b.node.join([a.url])
    await a.node.put('before', 'x')
    const client = provider(a)
    await synced(client.provider)
    expect(client.kv.get('before')).toBe('x')

    client.kv.set('fromClient', { hello: 'mesh' })
    await waitUntil('client write on b', () => b.node.get('fromClient') !== undefined, {
      subscribe: nodeEvents(b.node),
    })
    expect(b.node.get('fromClient')).toEqual({ hello: 'mesh' })

    await b.node.put('fromNode', 42)
    await waitUntil('node write on the client', () => client.kv.get('fromNode') === 42)
  })

  it('awareness is relayed across nodes and removed when the client goes', async () => {
    const a = await serveNode({ name: 'a' })
    const b = await serveNode({ name: 'b' })
    served.push(a, b)
    await b.node.join([a.url])
    const one = provider(a)
    const two = provider(b)
    await Promise.all([synced(one.provider), synced(two.provider)])
    one.provider.awareness.setLocalStateField('user', { name: 'ada' })
    const id = one.doc.clientID
    await waitUntil(
      'presence on b',
      () => (two.provider.awareness.getStates().get(id)?.user as { name?: string } | undefined)?.name === 'ada',
    )
    one.provider.destroy()
    await waitUntil('presence removed on b', () => !two.provider.awareness.getStates().has(id))
  })

  it('rooms other than default replicate too', async () => {
    const a = await serveNode({ name: 'a' })
    const b = await serveNode({ name: 'b' })
    served.push(a, b)
    await b.node.join([a.url])
    const one = provider(a, 'board')
    const two = provider(b, 'board')
    await Promise.all([synced(one.provider), synced(two.provider)])
    one.doc.getText('t').insert(0, 'hi')
    await waitUntil('text in room board on b', () => two.doc.getText('t').toJSON() === 'hi')
    expect(b.node.rooms()).toContain('board')
  })

  it('the node speaks first and keeps an idle socket alive', async () => {
    const a = await serveNode({ name: 'a', lightKeepaliveMs: 50 })
    served.push(a)
    const { ws, messages } = await openSocket(`${a.url}/default`)
    await waitUntil('sync step 1 from the node', () => messages.length >= 1)
    expect([...messages[0]!.subarray(0, 2)]).toEqual([0, 0])
    await waitUntil('a keepalive awareness message', () => messages.some((m) => m[0] === 1))
    ws.close()
  })

  it('sends keepalives only to sockets it sent nothing else: a busy room gets none', async () => {
    const a = await serveNode({ name: 'a', lightKeepaliveMs: 60 })
    served.push(a)
    const busy = await openSocket(`${a.url}/busy`)
    const idle = await openSocket(`${a.url}/idle`)
    const keepalives = (messages: Buffer[], from = 0) => messages.slice(from).filter((m) => m[0] === 1).length
    // A write in every loop turn: the busy socket is sent an update between any two keepalive rounds.
    const state = { writing: true, writes: 0 }
    const writer = (async () => {
      while (state.writing) {
        a.node.store('busy').set('k', state.writes++)
        await new Promise((resolve) => setImmediate(resolve))
      }
    })()
    await waitUntil('the writer is under way', () => state.writes >= 5)
    const from = { busy: busy.messages.length, idle: idle.messages.length }
    await waitUntil('three keepalives on the idle socket', () => keepalives(idle.messages, from.idle) >= 3)
    state.writing = false
    await writer
    expect(keepalives(busy.messages, from.busy)).toBe(0)
    expect(busy.messages.length - from.busy).toBeGreaterThan(3)
    busy.ws.close()
    idle.ws.close()
  })
})
