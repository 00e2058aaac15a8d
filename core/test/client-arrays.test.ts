/**
 * Anti-entropy rounds trim the struct arrays of clients new to a room (`ClientArrays`): the
 * room must read, write and replicate exactly as before, including writes from a client whose
 * array was trimmed. Seeded: `MESH_SEED` replays a run.
 */
import { waitUntil } from '@mesh/core/testing'
import * as prng from 'lib0/prng'
import { isDeepStrictEqual } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { YKeyValue } from 'y-utility/y-keyvalue'
import * as Y from 'yjs'
import { ClientArrays } from '../src/replication/index.js'
import { internalRoom, serveNode, type ServedNode } from './helpers.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** Writes one entry into `doc`'s kv array as `client`. */
const writeAsNewClient = (doc: Y.Doc, client: number, value: number): void => {
  doc.clientID = client
  new YKeyValue<number>(doc.getArray('kv')).set(`k${value % 7}`, value)
}

describe('ClientArrays', () => {
  it('replaces the arrays of new clients only, between transactions, and leaves the document as it was', () => {
    const doc = new Y.Doc()
    const arrays = new ClientArrays(doc)
    const writer = new Y.Doc()
    writer.on('update', (update: Uint8Array) => Y.applyUpdate(doc, update))
    writeAsNewClient(writer, 1, 1)
    arrays.trim()
    const first = doc.store.clients.get(1)
    writeAsNewClient(writer, 2 ** 31 + 2, 2)
    writeAsNewClient(writer, 3, 3)
    const before = new Map(doc.store.clients)
    doc.transact(() => arrays.trim())
    // Inside a transaction Yjs may hold an array it is about to change: nothing is replaced.
    for (const [client, structs] of doc.store.clients) expect(structs).toBe(before.get(client))
    arrays.trim()
    expect(doc.store.clients.get(1)).toBe(first)
    for (const client of [2 ** 31 + 2, 3]) {
      expect(doc.store.clients.get(client)).not.toBe(before.get(client))
      expect(doc.store.clients.get(client)).toEqual(before.get(client))
    }
    // A trimmed client writes again: its array grows and merges as usual.
    writeAsNewClient(writer, 3, 10)
    writeAsNewClient(writer, 3, 11)
    expect(Y.encodeStateAsUpdate(doc)).toEqual(Y.encodeStateAsUpdate(writer))
    expect(doc.getArray('kv').toJSON()).toEqual(writer.getArray('kv').toJSON())
  })
})

describe('nodes trimming on every anti-entropy round', () => {
  it('converge with light peers that write, leave, and come back as the same client', async () => {
    console.log(`client-arrays seed=${seed} (MESH_SEED replays)`)
    const gen = prng.create(seed)
    const served: ServedNode[] = []
    for (const name of ['a', 'b']) {
      const s = await serveNode({ name, antiEntropyMs: 50 })
      cleanups.push(() => s.close())
      served.push(s)
    }
    await served[1]!.node.join([served[0]!.url])
    const docs = served.map((s) => internalRoom(s.node).doc)
    /** Per node, each client's struct array as the transaction that brought the client left it. */
    const untrimmed = docs.map((d) => {
      const arrays = new Map<number, unknown>()
      d.on('afterTransaction', (transaction: Y.Transaction) => {
        for (const client of transaction.afterState.keys()) {
          if (!transaction.beforeState.has(client)) arrays.set(client, d.store.clients.get(client))
        }
      })
      return arrays
    })
    /** Tabs that left but kept their document, to come back as the same client. */
    const away: Array<{ doc: Y.Doc; provider: WebsocketProvider }> = []
    for (let session = 0; session < 24; session++) {
      let tab =
        away.length > 0 && prng.uint32(gen, 0, 2) === 0
          ? away.splice(prng.uint32(gen, 0, away.length - 1), 1)[0]
          : undefined
      const fresh = tab === undefined
      if (tab) tab.provider.connect()
      else {
        const doc = new Y.Doc()
        const at = served[prng.uint32(gen, 0, 1)]!
        tab = {
          doc,
          provider: new WebsocketProvider(at.url, 'default', doc, {
            WebSocketPolyfill: WebSocket as never,
            disableBc: true,
          }),
        }
        const { provider } = tab
        cleanups.push(() => {
          provider.destroy()
          doc.destroy()
        })
      }
      const { doc, provider } = tab
      await waitUntil('the tab synced', () => provider.synced)
      const kv = new YKeyValue<unknown>(doc.getArray('kv'))
      for (let n = prng.uint32(gen, 1, 3); n > 0; n--) kv.set(`light:${prng.uint32(gen, 0, 9)}`, session)
      if (prng.bool(gen)) await served[0]!.node.put(`node:${session % 5}`, session)
      const light = () => Object.fromEntries(kv.yarray.toArray().map((e) => [e.key, e.val]))
      await waitUntil('the light writes reached both nodes', () =>
        served.every((s) => isDeepStrictEqual(s.node.data.toJSON(), light())),
      )
      // Most of the time, let a round trim a new client's array on both nodes before the next
      // session (a client back from before is not new: its array was trimmed the first time).
      if (fresh && prng.uint32(gen, 0, 3) > 0) {
        await waitUntil('both nodes trimmed the client', () =>
          docs.every((d, i) => d.store.clients.get(doc.clientID) !== untrimmed[i]?.get(doc.clientID)),
        )
      }
      provider.disconnect()
      away.push(tab)
    }
    expect(Y.encodeStateVector(docs[1]!)).toEqual(Y.encodeStateVector(docs[0]!))
    expect(docs[1]!.getArray('kv').toJSON()).toEqual(docs[0]!.getArray('kv').toJSON())
    expect(served[1]!.node.data.toJSON()).toEqual(served[0]!.node.data.toJSON())
  })
})
