/**
 * What a review broke in the key/value index and the content rules (issues 12 and 14): a
 * `__proto__` field that passes validation once decoded, content parked pending that a later
 * plain update integrates past every check, index access after Mesh's by-item writes, and
 * non-JSON content an app pushes into a node's array by hand.
 */
import { MeshNode } from '@mesh/core'
import { waitUntil } from '@mesh/core/testing'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { YKeyValue } from 'y-utility/y-keyvalue'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { inspectUpdate } from '../src/replication/index.js'
import { dependencies, isKvEntry } from '../src/store/index.js'
import { serveNode } from './helpers.js'

describe('the key/value index and the content rules', () => {
  it('an entry whose fields come from a decoded __proto__ is not an entry, and is not plain', () => {
    // { key: 'x', __proto__: { val: 42 } } as lib0 encodes an object with those two own keys.
    const e = encoding.createEncoder()
    encoding.writeUint8(e, 118)
    encoding.writeVarUint(e, 2)
    encoding.writeVarString(e, 'key')
    encoding.writeAny(e, 'x')
    encoding.writeVarString(e, '__proto__')
    encoding.writeAny(e, { val: 42 })
    const decoded: unknown = decoding.readAny(decoding.createDecoder(encoding.toUint8Array(e)))
    expect((decoded as { val?: number }).val).toBe(42)
    expect(isKvEntry(decoded)).toBe(false)
    const doc = new Y.Doc()
    doc.getArray('kv').push([JSON.parse('{"key":"x","__proto__":{"val":1}}')])
    expect(inspectUpdate(Y.encodeStateAsUpdate(doc), 'v1').plain).toBe(false)
  })

  it('content that would wait for content nobody sent is found before it is parked', () => {
    const doc = new Y.Doc()
    const ghost = new Y.Doc()
    ghost.getArray('kv').push([{ key: 'bait', val: 1 }])
    const sv = Y.encodeStateVector(ghost)
    ghost.getArray('kv').push([new Y.Map()])
    const { structs } = Y.decodeUpdate(Y.encodeStateAsUpdate(ghost, sv))
    expect(dependencies(doc, structs).missing).toMatch(/nobody sent|gap/)
    expect(dependencies(ghost, structs).missing).toBeUndefined()
  })

  it('index access and y-utility on the node doc stay right after writes that only remove keys', () => {
    const node = new MeshNode({ name: 'a' })
    try {
      const other = new Y.Doc()
      for (let i = 0; i < 100; i++) {
        const writer = i % 2 === 0 ? undefined : other
        if (writer) {
          writer.getArray('kv').push([{ key: `k${i}`, val: i }])
          Y.applyUpdate(
            node.room('default').doc,
            Y.encodeStateAsUpdate(
              writer,
              Y.encodeStateVectorFromUpdate(Y.encodeStateAsUpdate(node.room('default').doc)),
            ),
          )
        } else void node.put(`k${i}`, i)
      }
      const kv = node.room('default').doc.getArray<{ key: string }>('kv')
      expect(kv.get(60)).toEqual(kv.toArray()[60]) // places a search marker near 60
      void node.pop('k10')
      expect(kv.get(60)).toEqual(kv.toArray()[60])
      const app = new YKeyValue(node.room('default').doc.getArray<{ key: string; val: unknown }>('kv'))
      app.set('k95', 'app')
      void node.pop('k20')
      app.set('k96', 'app')
      expect(Object.keys(node.data.toJSON()).sort()).toEqual([...app.map.keys()].sort())
      expect(node.get('k94')).toBe(94)
    } finally {
      void node.close()
    }
  })

  it('non-JSON content an app pushes into a node array by hand is removed before it cuts the node off', async () => {
    const served = [await serveNode({ name: 'a' }), await serveNode({ name: 'b' })]
    const [a, b] = served.map((s) => s.node) as [MeshNode, MeshNode]
    try {
      await b.join([served[0]!.url])
      await a.put('before', 1)
      const kv = a.room('default').doc.getArray('kv')
      kv.push([new Y.Map()])
      kv.push([new Uint8Array([1, 2])])
      kv.push([{ nokey: 1 }])
      expect(kv.length).toBe(1)
      await a.put('after', 2)
      await waitUntil('b holds what a holds', () => b.get('after') === 2 && b.get('before') === 1, {
        subscribe: (w) => b.on('change', w),
      })
    } finally {
      for (const s of served) await s.close()
    }
  })
})
