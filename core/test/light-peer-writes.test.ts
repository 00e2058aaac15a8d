/**
 * What a light peer may write into a room (docs/security.md, "What light peers may write"),
 * defects a fuzzer found: non-JSON content and subdocuments in the store's array, an owner or
 * expiry hidden behind an item of the same update, malformed entries that replicas ignore but
 * stock clients choke on, and values nested so deep that reading them overflows the stack.
 * Every refusal closes the socket with 4403, is counted and logged, and changes nothing.
 */
import { MAX_VALUE_DEPTH, MeshError, type JsonValue, type MeshNode } from '@mesh/core'
import { restCall, waitUntil } from '@mesh/core/testing'
import * as encoding from 'lib0/encoding'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { YKeyValue } from 'y-utility/y-keyvalue'
import * as Y from 'yjs'
import { checkUpdate } from '../src/replication/index.js'
import { internalRoom, memoryLogger, openSocket, serveNode, type ServedNode } from './helpers.js'
import { serveRest } from './rest-server.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const start = async (options: Parameters<typeof serveNode>[0] = {}): Promise<ServedNode> => {
  const served = await serveNode(options)
  cleanups.push(() => served.close())
  return served
}

/** The REST API of `node` on a bare Node HTTP server, as an adapter would serve it. */

/** A y-protocols sync update frame (what a y-websocket client sends for a local change). */
const frame = (update: Uint8Array): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, 2)
  encoding.writeVarUint8Array(e, update)
  return encoding.toUint8Array(e)
}

/**
 * Sends `update` as a light peer of `room` and resolves with what happened first: the close
 * code the node answered with, or `'applied'` when the room's doc changed instead.
 */
const send = async (served: ServedNode, room: string, update: Uint8Array): Promise<number | 'applied'> => {
  const doc = served.node.room(room).doc
  const { ws, closed } = await openSocket(`${served.url}/${room}`)
  cleanups.push(() => ws.terminate())
  let off = (): void => {}
  const applied = new Promise<'applied'>((resolve) => {
    const listener = (): void => resolve('applied')
    doc.on('update', listener)
    off = () => doc.off('update', listener)
  })
  ws.send(frame(update))
  try {
    return await Promise.race([closed.then((c) => c.code), applied])
  } finally {
    off()
  }
}

/** A writer doc holding everything `served` holds in `room`, to write on top of it. */
const writerOf = (served: ServedNode, room = 'default'): Y.Doc => {
  const writer = new Y.Doc()
  Y.applyUpdate(writer, Y.encodeStateAsUpdate(served.node.room(room).doc))
  return writer
}

/** What the writer wrote since it copied the room: the update a light peer would send. */
const changes = (writer: Y.Doc, served: ServedNode, room = 'default'): Uint8Array =>
  Y.encodeStateAsUpdate(writer, Y.encodeStateVector(served.node.room(room).doc))

/** Puts `content` into the writer's `kv` as an item of its own, at the start of the array. */
const insertRaw = (writer: Y.Doc, content: Y.Item['content']): void => {
  writer.transact((tr) => {
    const clock = Y.getState(writer.store, writer.clientID)
    const item = new Y.Item(
      Y.createID(writer.clientID, clock),
      null,
      null,
      null,
      null,
      writer.getArray('kv'),
      null,
      content,
    )
    item.integrate(tr, 0)
  })
}

const forbidden = (node: MeshNode): number =>
  node
    .metrics()
    .find((m) => m.name === 'mesh_rejected_total')
    ?.values.filter((v) => v.labels?.reason === 'forbidden')
    .reduce((n, v) => n + v.value, 0) ?? 0

/** `levels` arrays nested in one another around `null`, as lib0 encodes it (no recursion here). */
const deepAny = (levels: number): Uint8Array => {
  const bytes = new Uint8Array(2 * levels + 1)
  for (let i = 0; i < levels; i++) bytes.set([117, 1], 2 * i)
  bytes[2 * levels] = 126
  return bytes
}

/** The writer's update with the string value `marker` replaced by `levels` nested arrays. */
const withDeepValue = (update: Uint8Array, marker: string, levels: number): Uint8Array => {
  const needle = new Uint8Array([119, marker.length, ...new TextEncoder().encode(marker)])
  const at = Buffer.from(update).indexOf(Buffer.from(needle))
  if (at < 0) throw new Error('marker not found in the update')
  return Buffer.concat([update.subarray(0, at), deepAny(levels), update.subarray(at + needle.length)])
}

/** A JSON value of `levels` nested arrays. */
const deepJson = (levels: number): JsonValue => {
  let value: JsonValue = 'bottom'
  for (let i = 0; i < levels; i++) value = [value]
  return value
}

describe('a light peer writes only JSON entries into the store', () => {
  it('shared types, subdocuments and non-JSON content in kv are refused, and subdocuments anywhere', async () => {
    const log = memoryLogger()
    const a = await start({ name: 'a', logger: log.logger })
    await a.node.put('kept', 1)
    const kvLength = () => internalRoom(a.node).kv.array.length
    const cases: Array<[string, (writer: Y.Doc) => void]> = [
      ['a subdocument in kv', (w) => w.getArray('kv').push([new Y.Doc()])],
      ['4000 subdocuments in kv', (w) => w.getArray('kv').push(Array.from({ length: 4000 }, () => new Y.Doc()))],
      ['a Y.Map in kv', (w) => w.getArray('kv').push([new Y.Map()])],
      ['a Y.Text in kv', (w) => w.getArray('kv').push([new Y.Text('hi')])],
      ['binary in kv', (w) => w.getArray('kv').push([new Uint8Array([1, 2, 3])])],
      ['a string item in kv', (w) => insertRaw(w, new Y.ContentString('abc'))],
      ['an embed in kv', (w) => insertRaw(w, new Y.ContentEmbed({ key: 'e', val: 1 }))],
      ['a format in kv', (w) => insertRaw(w, new Y.ContentFormat('bold', true))],
      ['legacy JSON in kv', (w) => insertRaw(w, new Y.ContentJSON([{ key: 'j', val: 1 }]))],
      ['a subdocument in another map', (w) => w.getMap('notes').set('sub', new Y.Doc())],
    ]
    for (const [what, write] of cases) {
      const writer = writerOf(a)
      write(writer)
      expect([what, await send(a, 'default', changes(writer, a))]).toEqual([what, 4403])
    }
    expect(kvLength()).toBe(1)
    expect(a.node.room('default').doc.getMap('notes').size).toBe(0)
    expect(forbidden(a.node)).toBe(cases.length)
    expect(log.entries.filter((e) => e.level === 'warn' && e.message === 'closing light peer')).toHaveLength(
      cases.length,
    )
    // Shared types outside the store remain the app's business.
    const writer = writerOf(a)
    writer.getMap('notes').set('list', new Y.Array())
    expect(await send(a, 'default', changes(writer, a))).toBe('applied')
    expect(a.node.room('default').doc.getMap('notes').get('list')).toBeInstanceOf(Y.Array)
    await a.node.put('after', 2)
    expect(a.node.data.toJSON()).toEqual({ kept: 1, after: 2 })
  })

  it('an owner or an expiry behind an item of the same update is refused', async () => {
    const a = await start({ name: 'a' })
    await a.node.put('kept', 1)
    // Another client's entry placed right after one the update itself inserts.
    const writer = writerOf(a)
    writer.getArray('kv').push([{ key: 'first', val: 1 }])
    writer.clientID = writer.clientID + 1
    writer.getArray('kv').push([{ key: 'stolen', val: 2, owner: a.node.id }])
    expect(await send(a, 'default', changes(writer, a))).toBe(4403)
    // In an empty array: the first entry names the array, the second only its right neighbour.
    const fresh = writerOf(a, 'fresh')
    fresh.getArray('kv').push([{ key: 'first', val: 1 }])
    fresh.getArray('kv').insert(0, [{ key: 'doomed', val: 2, exp: 1 }])
    expect(await send(a, 'fresh', changes(fresh, a, 'fresh'))).toBe(4403)
    // A chain: each entry right of the previous one, from several clients.
    const chain = writerOf(a)
    for (let i = 0; i < 5; i++) {
      chain.clientID = 1000 + i
      chain.getArray('kv').push([i === 4 ? { key: 'deep-claim', val: i, exp: 1 } : { key: `c${i}`, val: i }])
    }
    expect(await send(a, 'default', changes(chain, a))).toBe(4403)
    expect(a.node.data.toJSON()).toEqual({ kept: 1 })
    expect(a.node.store('fresh').toJSON()).toEqual({})
  })

  it('malformed entries are refused, so they never reach stock y-utility clients', async () => {
    const a = await start({ name: 'a' })
    await a.node.put('kept', 1)
    const observer = new Y.Doc()
    const provider = new WebsocketProvider(a.url, 'default', observer, {
      WebSocketPolyfill: WebSocket as never,
      disableBc: true,
    })
    cleanups.push(() => provider.destroy())
    await new Promise<void>((resolve) => provider.once('sync', () => resolve()))
    const kv = new YKeyValue(observer.getArray<{ key: string; val: unknown }>('kv'))
    const malformed: unknown[] = [
      null,
      42,
      'text',
      [1, 2],
      {},
      { val: 1 },
      { key: 7, val: 1 },
      { key: '', val: 1 },
      { key: 'x'.repeat(2000), val: 1 },
      { key: 'no-val' },
      { key: 'undefined-val', val: undefined },
      { key: 'kept' },
    ]
    for (const entry of malformed) {
      const writer = writerOf(a)
      writer.getArray('kv').push([{ key: 'fine', val: 0 }, entry])
      expect([entry, await send(a, 'default', changes(writer, a))]).toEqual([entry, 4403])
    }
    expect(forbidden(a.node)).toBe(malformed.length)
    await a.node.put('later', 2)
    await waitUntil('the observer has later', () => kv.get('later') === 2, {
      subscribe: (wake) => {
        observer.on('update', wake)
        return () => observer.off('update', wake)
      },
    })
    expect(observer.getArray('kv').length).toBe(2)
    expect(kv.get('kept')).toBe(1)
    expect(a.node.data.toJSON()).toEqual({ kept: 1, later: 2 })
  })
})

describe('values nest at most MAX_VALUE_DEPTH levels', () => {
  it('checkUpdate measures how deep values nest, without recursion', () => {
    const doc = new Y.Doc()
    doc.getArray('a').push([1, 'text', null, true])
    expect(checkUpdate(Y.encodeStateAsUpdate(doc), 'v1')).toBe(0)
    doc.getArray('a').push([{ n: 2n ** 40n, b: new Uint8Array([1]), f: 1.5, i: -7, u: undefined, t: false }])
    expect(checkUpdate(Y.encodeStateAsUpdate(doc), 'v1')).toBe(1)
    doc.getMap('m').set('v', { a: [1, { b: [] }], c: {} })
    expect(checkUpdate(Y.encodeStateAsUpdate(doc), 'v1')).toBe(4)
    expect(checkUpdate(Y.encodeStateAsUpdateV2(doc), 'v2')).toBe(4)
    doc.getArray('a').push([{ key: 'k', val: deepJson(MAX_VALUE_DEPTH) }])
    expect(checkUpdate(Y.encodeStateAsUpdate(doc), 'v1')).toBe(MAX_VALUE_DEPTH + 1)
    // 300 000 levels: lib0's readAny would overflow the stack long before.
    doc.getArray('a').push(['DEEP-VALUE'])
    const deep = withDeepValue(Y.encodeStateAsUpdate(doc), 'DEEP-VALUE', 300_000)
    expect(checkUpdate(deep, 'v1')).toBe(300_000)
    expect(() => checkUpdate(deep.subarray(0, deep.length - 3), 'v1')).toThrow()
  })

  it('a local put of a deeper value throws a bad_request MeshError and writes nothing', async () => {
    expect(MAX_VALUE_DEPTH).toBe(64)
    const a = await start({ name: 'a' })
    await a.node.put('ok', deepJson(MAX_VALUE_DEPTH))
    const error = await a.node.put({ fine: 1, deep: deepJson(MAX_VALUE_DEPTH + 1) }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MeshError)
    expect((error as MeshError).code).toBe('bad_request')
    expect((error as MeshError).message).toMatch(/deep\S* nests deeper than 64 levels \(MAX_VALUE_DEPTH\)/)
    expect(() => a.node.data.set('deep', deepJson(100_000))).toThrow(/MAX_VALUE_DEPTH/)
    expect(a.node.data.keys()).toEqual(['ok'])
  })

  it('REST PUT of a deeper value answers 400 with a JSON error; GET /kv keeps answering', async () => {
    const a = await start({ name: 'a' })
    const api = await serveRest(a.node, cleanups)
    const put = await restCall(`${api}/kv/deep`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '['.repeat(3000) + ']'.repeat(3000),
    })
    expect(put.status).toBe(400)
    expect((put.body as { error: string }).error).toMatch(/MAX_VALUE_DEPTH/)
    expect(await restCall(`${api}/kv`)).toMatchObject({ status: 200, body: {} })
  })

  it('a light peer that writes a deeper value is refused, however deep, and GET /kv keeps answering', async () => {
    const a = await start({ name: 'a' })
    const api = await serveRest(a.node, cleanups)
    await a.node.put('kept', 1)
    for (const levels of [MAX_VALUE_DEPTH + 1, 3000, 200_000]) {
      const writer = writerOf(a)
      writer.getArray('kv').push([{ key: 'deep', val: 'DEEP-VALUE' }])
      const update = withDeepValue(changes(writer, a), 'DEEP-VALUE', levels)
      expect([levels, await send(a, 'default', update)]).toEqual([levels, 4403])
    }
    // Exactly at the limit is fine.
    const writer = writerOf(a)
    writer.getArray('kv').push([{ key: 'limit', val: 'DEEP-VALUE' }])
    expect(await send(a, 'default', withDeepValue(changes(writer, a), 'DEEP-VALUE', MAX_VALUE_DEPTH))).toBe('applied')
    const all = await restCall(`${api}/kv`)
    expect(all.status).toBe(200)
    expect(Object.keys(all.body as object).sort()).toEqual(['kept', 'limit'])
  })
})
