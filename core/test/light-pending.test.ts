/**
 * A stock y-websocket client may hold pending structs of its own: another provider
 * (BroadcastChannel between tabs, WebRTC, IndexedDB) gave it a writer's later update before an
 * earlier one. Yjs's `encodeStateAsUpdate` sends them after the client's content, past a gap
 * (a Skip). The node must take the rest of that answer, keep the client connected, and park
 * nothing: what Yjs parks would later be integrated past every check. Seeded: `MESH_SEED`.
 */
import { waitUntil } from '@mesh/core/testing'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { afterEach, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { YKeyValue } from 'y-utility/y-keyvalue'
import * as Y from 'yjs'
import { internalRoom, memoryLogger, openSocket, serveNode, type ServedNode } from './helpers.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))
const served: ServedNode[] = []
const providers: WebsocketProvider[] = []
afterEach(async () => {
  for (const p of providers.splice(0)) p.destroy()
  for (const s of served.splice(0)) await s.close()
})

it(`a client holding pending structs stays connected, its write arrives, the node parks nothing (seed ${seed})`, async () => {
  const { logger, entries } = memoryLogger()
  const node = await serveNode({ name: 'pending-client', logger })
  served.push(node)
  // Writer X's updates, one entry each: clocks 0 to 5.
  const writer = new Y.Doc()
  writer.clientID = 1_000_000 + (seed % 1_000_000)
  const updates: Uint8Array[] = []
  writer.on('update', (u: Uint8Array) => updates.push(u))
  for (let i = 0; i < 6; i++) new YKeyValue<unknown>(writer.getArray('kv')).set(`x${i}`, i)
  // The tab got X's first, second and last update; the others are on their way.
  const tab = new Y.Doc()
  for (const i of [0, 1, 5]) Y.applyUpdate(tab, updates[i] as Uint8Array)
  expect(tab.store.pendingStructs).not.toBeNull()
  new YKeyValue<unknown>(tab.getArray('kv')).set('own', 'the tab')
  const provider = new WebsocketProvider(node.url, 'default', tab, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  })
  providers.push(provider)
  await waitUntil('the tab write reaches the node', () => node.node.get('own') === 'the tab')
  const room = internalRoom(node.node)
  expect(node.node.get('x1')).toBe(1)
  expect(node.node.get('x5')).toBeUndefined()
  expect(room.doc.store.pendingStructs).toBeNull()
  expect(entries.filter((e) => e.message.startsWith('closing light peer'))).toEqual([])
  // The writer's missing updates come from the writer: all of it arrives, once.
  const direct = new WebsocketProvider(node.url, 'default', writer, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  })
  providers.push(direct)
  await waitUntil('the writer synced', () => node.node.get('x5') === 5)
  expect([0, 1, 2, 3, 4, 5].map((i) => node.node.get(`x${i}`))).toEqual([0, 1, 2, 3, 4, 5])
})

// A y-websocket client sends each local change at once, also before its answer to the node's
// step 1: a deletion of content it got from another node arrives before that content does.
// The node used to close it for good (4403, which y-websocket does not retry): now it drops the
// deletion, asks for the client's state again, and gets both in the answer.
it('a deletion that arrives before the content it deletes is taken with it, once the client answers again', async () => {
  const node = await serveNode({ name: 'early-deletion' })
  served.push(node)
  await node.node.put('kept', 1)
  // The client holds another writer's entry that the node has not got yet, and deletes it.
  const tab = new Y.Doc()
  const writer = new Y.Doc()
  new YKeyValue<unknown>(writer.getArray('kv')).set('elsewhere', 'from another node')
  Y.applyUpdate(tab, Y.encodeStateAsUpdate(writer))
  const deletions: Uint8Array[] = []
  tab.on('update', (u: Uint8Array) => deletions.push(u))
  new YKeyValue<unknown>(tab.getArray('kv')).delete('elsewhere')
  const socket = await openSocket(`${node.url}/default`)
  await waitUntil('the node speaks first', () => socket.messages.length > 0)
  const syncFrame = (sub: number, payload: Uint8Array) => {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 0)
    encoding.writeVarUint(e, sub)
    encoding.writeVarUint8Array(e, payload)
    return encoding.toUint8Array(e)
  }
  socket.ws.send(syncFrame(2, deletions[0] as Uint8Array))
  await waitUntil('asked to sync again', () => socket.messages.slice(1).some((m) => m[0] === 0 && m[1] === 0))
  // The client's answer to that step 1: what the node lacks, with the client's deletions.
  const asked = socket.messages.slice(1).find((m) => m[0] === 0 && m[1] === 0) as Buffer
  const reader = decoding.createDecoder(asked)
  decoding.readVarUint(reader)
  decoding.readVarUint(reader)
  const nodeState = decoding.readVarUint8Array(reader)
  socket.ws.send(syncFrame(1, Y.encodeStateAsUpdate(tab, nodeState)))
  await waitUntil('the node holds the entry, deleted', () => {
    const { doc } = internalRoom(node.node)
    return Y.encodeStateVector(doc).length > 0 && doc.store.clients.has(writer.clientID)
  })
  expect(node.node.get('elsewhere')).toBeUndefined()
  expect(node.node.get('kept')).toBe(1)
  expect(socket.ws.readyState).toBe(socket.ws.OPEN)
  const { pendingDs, pendingStructs } = internalRoom(node.node).doc.store
  expect([pendingDs, pendingStructs]).toEqual([null, null])
  socket.ws.close()
})
