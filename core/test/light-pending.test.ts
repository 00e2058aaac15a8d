/**
 * A stock y-websocket client may hold pending structs of its own: another provider
 * (BroadcastChannel between tabs, WebRTC, IndexedDB) gave it a writer's later update before an
 * earlier one. Yjs's `encodeStateAsUpdate` sends them after the client's content, past a gap
 * (a Skip). The node must take the rest of that answer, keep the client connected, and park
 * nothing: what Yjs parks would later be integrated past every check. Seeded: `MESH_SEED`.
 */
import { waitUntil } from '@mesh/core/testing'
import { afterEach, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { YKeyValue } from 'y-utility/y-keyvalue'
import * as Y from 'yjs'
import { internalRoom, memoryLogger, serveNode, type ServedNode } from './helpers.js'

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
