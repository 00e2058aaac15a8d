import { createRestHandler, MeshNode, type JsonValue } from '@mesh/core'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { YKeyValue } from 'y-utility/y-keyvalue'
import { afterEach, describe, expect, it } from 'vitest'
import { checkUpdate, decodeChanged, encodeChanged, inspectUpdate } from '../src/replication/index.js'
import { MAX_LOST_RACES } from '../src/store/index.js'
import { internalRoom } from './helpers.js'

const checkUpdateV2 = (update: Uint8Array) => checkUpdate(update, 'v2')

const nodes: MeshNode[] = []
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close()
})

describe('V2 update check', () => {
  it('passes genuine updates of every shared type, deletions included', () => {
    const doc = new Y.Doc()
    doc.getMap('kv').set('a', { x: [1, 'two', null, true] })
    doc.getMap('kv').set('b', new Uint8Array([1, 2]))
    doc.getArray('list').insert(0, [1, 2, 3])
    doc.getText('text').insert(0, 'hello')
    doc.getText('text').format(0, 2, { bold: true })
    doc.getXmlFragment('xml').insert(0, [new Y.XmlElement('p'), new Y.XmlText('t')])
    doc.getMap('kv').delete('a')
    doc.getArray('list').delete(0, 2)
    for (let i = 0; i < 1000; i++) doc.getMap('kv').set(`k${i % 10}`, i)
    expect(() => checkUpdateV2(Y.encodeStateAsUpdateV2(doc))).not.toThrow()
    expect(() => checkUpdate(Y.encodeStateAsUpdate(doc), 'v1')).not.toThrow()
  })

  it('refuses a few bytes that declare billions of structs, at once', () => {
    const encoder = new Y.UpdateEncoderV2()
    encoding.writeVarUint(encoder.restEncoder, 1)
    encoding.writeVarUint(encoder.restEncoder, 2 ** 32 - 2)
    encoder.writeClient(1)
    encoding.writeVarUint(encoder.restEncoder, 0)
    encoder.writeInfo(0)
    encoder.writeLen(1)
    const bomb = encoder.toUint8Array()
    expect(bomb.length).toBeLessThan(64)
    const started = Date.now()
    expect(() => checkUpdateV2(bomb)).toThrow(/declares more than/)
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('refuses truncated and garbage updates', () => {
    const doc = new Y.Doc()
    doc.getMap('kv').set('a', 1)
    const update = Y.encodeStateAsUpdateV2(doc)
    expect(() => checkUpdateV2(update.slice(0, update.length - 3))).toThrow()
    expect(() => checkUpdateV2(new Uint8Array([0, 200, 200, 200]))).toThrow()
  })
})

describe('values that cannot replicate faithfully are refused', () => {
  const node = () => {
    const n = new MeshNode()
    nodes.push(n)
    return n
  }
  it('a nested __proto__ key and lone surrogates are refused; a constructor key is stored like any other', async () => {
    const n = node()
    await expect(n.put('k', JSON.parse('{"a":{"__proto__":{"x":1}}}') as JsonValue)).rejects.toMatchObject({
      code: 'bad_request',
    })
    await expect(n.put('k', '\ud800')).rejects.toMatchObject({ code: 'bad_request' })
    await expect(n.put('\udc00', 1)).rejects.toMatchObject({ code: 'bad_request' })
    await expect(n.put('k', { ['\ud800x']: 1 })).rejects.toMatchObject({ code: 'bad_request' })
    // Entries of the array layout wrap the value, so its own keys never steer Yjs's encoding.
    await n.put('top', { constructor: 1 })
    expect(n.get('top')).toEqual({ constructor: 1 })
    await n.pop('top')
    await n.put('ok', { nested: { constructor: 1 }, emoji: '😀' })
    expect(n.get('ok')).toEqual({ nested: { constructor: 1 }, emoji: '😀' })
    expect(n.data.toJSON()).toEqual({ ok: { nested: { constructor: 1 }, emoji: '😀' } })
  })

  it('REST answers stay JSON when a light peer stored a BigInt or bytes', async () => {
    const n = node()
    // What a y-utility YKeyValue app in a tab can store: values Yjs encodes but JSON cannot.
    const kv = new YKeyValue<unknown>(internalRoom(n).kv.array as Y.Array<{ key: string; val: unknown }>)
    kv.set('big', 10n)
    kv.set('huge', 2n ** 70n)
    kv.set('bytes', new Uint8Array([1, 2]))
    kv.set('nested', { n: 5n, list: [1n] })
    const res = await createRestHandler(n)({
      method: 'GET',
      path: '/kv',
      query: new URLSearchParams(),
      body: () => Promise.resolve(''),
    })
    expect(res.status).toBe(200)
    expect(JSON.parse(JSON.stringify(res.body))).toEqual({
      big: 10,
      huge: '1180591620717411303424',
      bytes: [1, 2],
      nested: { n: 5, list: [1] },
    })
  })
})

describe('inspectUpdate', () => {
  it('given a doc, tells a duplicate (known) and an update that would wait for what the doc lacks (not ready)', () => {
    const writer = new Y.Doc()
    const updates: Uint8Array[] = []
    writer.on('update', (u: Uint8Array) => updates.push(u))
    const kv = writer.getArray('kv')
    kv.push([{ key: 'a', val: 1 }])
    kv.push([{ key: 'b', val: 2 }])
    kv.delete(0, 1)
    const [first, second, removal] = updates as [Uint8Array, Uint8Array, Uint8Array]
    const reader = new Y.Doc()
    expect(inspectUpdate(second, 'v1', reader)).toMatchObject({ known: false, ready: false })
    expect(inspectUpdate(removal, 'v1', reader)).toMatchObject({ known: false, ready: false })
    Y.applyUpdate(reader, first)
    expect(inspectUpdate(first, 'v1', reader)).toMatchObject({ known: true, ready: true })
    expect(inspectUpdate(second, 'v1', reader)).toMatchObject({ known: false, ready: true })
    expect(inspectUpdate(removal, 'v1', reader)).toMatchObject({ known: false, ready: true })
    Y.applyUpdate(reader, removal)
    expect(inspectUpdate(removal, 'v1', reader)).toMatchObject({ known: true, ready: true })
    expect(inspectUpdate(first, 'v1')).toMatchObject({ known: false, ready: true })
  })

  it("tells an update that deletes entries of a client it writes nothing for (another writer's, or a pure removal)", () => {
    const a = new Y.Doc()
    const b = new Y.Doc()
    const updates: Uint8Array[] = []
    b.on('update', (u: Uint8Array) => updates.push(u))
    a.getArray('kv').push([{ key: 'k', val: 'a' }])
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
    updates.length = 0
    const kv = b.getArray('kv')
    b.transact(() => kv.push([{ key: 'own', val: 1 }]))
    b.transact(() => {
      kv.delete(1, 1)
      kv.push([{ key: 'own', val: 2 }])
    })
    b.transact(() => {
      kv.delete(0, 1)
      kv.push([{ key: 'k', val: 'b' }])
    })
    b.transact(() => kv.delete(1, 1))
    expect(updates.map((u) => inspectUpdate(u, 'v1').deletesOthers)).toEqual([false, false, true, true])
  })

  it('reads the lost races a diff names, refuses malformed ones and more than an honest peer remembers', () => {
    const race = { key: 'k', loser: { client: 1, clock: 2 }, winner: { client: 3, clock: 4 } }
    const text = encodeChanged(new Map([['x', 1]]), [race])
    expect(decodeChanged(text)).toEqual({ changed: new Map([['x', 1]]), lost: [race] })
    for (const bad of [
      [['k', 2, -1, 0, 3, 4]],
      [['k', 2, 1.5, 0, 3, 4]],
      [['k', 2, 1, 0, 3]],
      [[7, 2, 1, 0, 3, 4]],
      [['k', 3]],
    ])
      expect(() => decodeChanged(JSON.stringify(bad))).toThrow()
    const flood = Array.from({ length: MAX_LOST_RACES + 1 }, (_, i) => [`k${i}`, 2, 1, i, 3, 4])
    expect(() => decodeChanged(JSON.stringify(flood))).toThrow('too many lost races')
  })

  const summary = (fill: (doc: Y.Doc) => void) => {
    const doc = new Y.Doc()
    fill(doc)
    return [inspectUpdate(Y.encodeStateAsUpdate(doc), 'v1'), inspectUpdate(Y.encodeStateAsUpdateV2(doc), 'v2')]
  }
  it('calls plain only updates of well-formed store entries and deletions', () => {
    for (const s of summary((doc) => {
      const kv = doc.getArray('kv')
      kv.push([
        { key: 'a', val: { deep: [1, { x: 'y' }] } },
        { key: 'b', val: null, owner: 'n1', exp: 5 },
      ])
      kv.push([{ key: 'gone', val: 1 }])
      kv.delete(2, 1)
    }))
      expect(s).toMatchObject({ depth: 4, plain: true, known: false, ready: true })
    const bad: unknown[] = [
      null,
      { val: 1 },
      { key: 7, val: 1 },
      { key: '', val: 1 },
      { key: 'k' },
      { key: 'k', val: undefined },
      { key: 'k', val: 1, owner: 3 },
      { key: 'k', val: 1, exp: 'soon' },
      { key: 'x'.repeat(2000), val: 1 },
      {},
    ]
    for (const entry of bad) {
      for (const s of summary((doc) => doc.getArray('kv').push([{ key: 'ok', val: 1 }, entry])))
        expect(s.plain, JSON.stringify(entry)).toBe(false)
    }
    for (const s of summary((doc) => doc.getMap('m').set('k', 1))) expect(s.plain).toBe(false)
    for (const s of summary((doc) => doc.getText('t').insert(0, 'hi'))) expect(s.plain).toBe(false)
  })
})
