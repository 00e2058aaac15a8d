import { waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { internalRoom, memoryLogger, openSocket, serveNode, type ServedNode } from './helpers.js'

const served: ServedNode[] = []
const providers: WebsocketProvider[] = []
afterEach(async () => {
  for (const p of providers.splice(0)) p.destroy()
  for (const s of served.splice(0)) await s.close()
})

const fast = { membership: { heartbeatMs: 20, deadAfterMs: 200 } }
const errors = (node: ServedNode['node']) =>
  node
    .metrics()
    .find((m) => m.name === 'mesh_internal_errors_total')
    ?.values.reduce((n, v) => n + v.value, 0) ?? 0

describe('hostile content in the shared types the store uses', () => {
  it('a light peer that writes an entry with an owner or an expiry is refused, and no node crashes', async () => {
    const a = await serveNode({ name: 'a', ...fast })
    const b = await serveNode({ name: 'b', ...fast })
    served.push(a, b)
    await b.node.join([a.url])
    await a.node.put('lease', 'a', { ephemeral: true })
    await a.node.put('cache', 1, { ttl: 60_000 })
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(a.url, 'default', doc, {
      WebSocketPolyfill: WebSocket as never,
      disableBc: true,
    })
    providers.push(provider)
    await new Promise<void>((resolve) => provider.once('sync', () => resolve()))
    const closed = new Promise<number>((resolve) =>
      provider.once('connection-close', (e: CloseEvent | null) => resolve(e?.code ?? 0)),
    )
    // Claims an ephemeral key for node b (swept when b dies) and an expiry on a fresh key.
    doc.getArray('kv').push([
      { key: 'stolen', val: 1, owner: b.node.id },
      { key: 'doomed', val: 2, exp: 1 },
    ])
    expect(await closed).toBe(4403)
    const beats = b.node.members().find((m) => m.id === a.node.id)?.lastSeen ?? 0
    await waitUntil(
      'a few more heartbeats',
      () => (b.node.members().find((m) => m.id === a.node.id)?.lastSeen ?? 0) > beats + 60,
    )
    for (const node of [a.node, b.node]) {
      expect(node.data.toJSON()).toEqual({ lease: 'a', cache: 1 })
      expect(errors(node)).toBe(0)
    }
  })

  it('malformed entries that reached replicas are ignored by every replica alike', async () => {
    const log = memoryLogger()
    const a = await serveNode({ name: 'a', ...fast, logger: log.logger })
    const b = await serveNode({ name: 'b', ...fast })
    served.push(a, b)
    await b.node.join([a.url])
    await a.node.put('k1', 1)
    // What a buggy or hostile writer could leave in the array.
    internalRoom(a.node).kv.array.push([
      null,
      42,
      'text',
      [1, 2],
      {},
      { val: 1 },
      { key: 7, val: 1 },
      { key: '', val: 1 },
      { key: 'no-val' },
      { key: 'bad-owner', val: 1, owner: 42 },
      { key: 'bad-exp', val: 1, exp: 'soon' },
      { key: 'x'.repeat(2000), val: 1 },
      { key: 'k2', val: 2 },
    ])
    await waitUntil('b has k2', () => b.node.get('k2') === 2, { subscribe: (w) => b.node.on('change', w) })
    const before = a.node.members()[0]!.lastSeen
    await waitUntil('a few heartbeats with sweeps', () => a.node.members()[0]!.lastSeen > before + 100)
    for (const node of [a.node, b.node]) {
      expect(node.data.toJSON()).toEqual({ k1: 1, k2: 2 })
      expect(errors(node)).toBe(0)
    }
    expect(log.entries.filter((e) => e.level === 'error')).toEqual([])
  })

  it('a light peer that sends a gap in its clocks, or deletes content that does not exist yet, parks nothing and is asked to sync again', async () => {
    const a = await serveNode({ name: 'a', ...fast })
    served.push(a)
    await a.node.put('kept', 1)
    const frame = (update: Uint8Array) => {
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, 0)
      encoding.writeVarUint(e, 2)
      encoding.writeVarUint8Array(e, update)
      return encoding.toUint8Array(e)
    }
    // Clocks 3 and up of a client the node never saw: could never be integrated.
    const writer = new Y.Doc()
    writer.clientID = 777
    for (let i = 0; i < 6; i++) writer.getArray('kv').push([{ key: `g${i}`, val: i }])
    const gap = Y.encodeStateAsUpdate(writer, Y.encodeStateVector(new Map([[777, 3]]) as never))
    // Deletions of the node's own future writes (its client id, clocks it has not used yet).
    const forger = new Y.Doc()
    forger.clientID = a.node.clientId
    // Clock 0 is the node's write of `kept`: the deletions start after it.
    for (let i = 0; i < 11; i++) forger.getArray('other').push([i])
    forger.getArray('other').delete(1, 10)
    const future = Y.encodeStateAsUpdate(forger, Y.encodeStateVector(forger))
    // Neither part can be applied yet (a client holding pending structs, or deleting before its
    // answer to the node's step 1 went out, sends them so): the socket stays, nothing of them
    // is applied or parked, and the node asks for the client's state again (a step 1).
    for (const update of [gap, future]) {
      const socket = await openSocket(`${a.url}/default`)
      await waitUntil('the node speaks first', () => socket.messages.length > 0)
      const before = socket.messages.length
      socket.ws.send(frame(update))
      await waitUntil('a step 1 asked again', () => socket.messages.slice(before).some((m) => m[0] === 0 && m[1] === 0))
      expect(socket.ws.readyState).toBe(socket.ws.OPEN)
      socket.ws.close()
    }
    expect(a.node.get('g3')).toBeUndefined()
    for (let i = 0; i < 20; i++) await a.node.put(`after-${i}`, i)
    expect(a.node.status().rooms.default?.pending).toBe(false)
    expect(a.node.data.size).toBe(21)
  })
})
