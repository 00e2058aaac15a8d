/**
 * The holder of a cold join encodes its whole state with `encodeStateV2`, which must give
 * exactly what `Y.encodeStateAsUpdateV2` gives: random documents of several clients (arrays
 * with deletions, maps, text), with and without a state vector; what a doc holds pending is left out.
 * Seeded: `MESH_SEED` replays a run.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { encodeStateV1, encodeStateV2 } from '../src/replication/index.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))

const same = (doc: Y.Doc, sv?: Uint8Array): void => {
  const ours = encodeStateV2(doc, sv)
  expect(Buffer.from(ours).equals(Buffer.from(Y.encodeStateAsUpdateV2(doc, sv)))).toBe(true)
}

describe(`encodeStateV2 (MESH_SEED=${seed})`, () => {
  it('is Y.encodeStateAsUpdateV2, byte for byte', () => {
    const gen = prng.create(seed)
    for (let run = 0; run < 8; run++) {
      const docs = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
      let middle: Uint8Array | undefined
      for (let step = 0; step < 60; step++) {
        const doc = prng.oneOf(gen, docs)
        const array = doc.getArray<unknown>('kv')
        const op = prng.uint32(gen, 0, 5)
        if (op === 0 && array.length > 0) array.delete(prng.uint32(gen, 0, array.length - 1), 1)
        else if (op === 1) doc.getMap('m').set(prng.word(gen, 1, 4), prng.uint32(gen, 0, 1000))
        else if (op === 2) doc.getText('t').insert(0, prng.word(gen, 1, 20))
        else {
          const n = prng.uint32(gen, 1, 300)
          array.push(Array.from({ length: n }, (_, i) => ({ key: `k${step}.${i}`, val: prng.real53(gen) })))
        }
        if (prng.bool(gen)) {
          const other = prng.oneOf(gen, docs)
          if (other !== doc) Y.applyUpdateV2(other, Y.encodeStateAsUpdateV2(doc))
        }
        if (step === 30) middle = Y.encodeStateVector(docs[0] as Y.Doc)
      }
      for (const doc of docs) {
        same(doc)
        same(doc, middle)
        same(doc, Y.encodeStateVector(doc))
      }
    }
  })

  it('leaves out what a doc holds pending, in V2 and in V1', () => {
    const a = new Y.Doc()
    const b = new Y.Doc()
    a.getArray('kv').push([{ key: 'x', val: 1 }])
    const first = Y.encodeStateAsUpdateV2(a)
    a.getArray('kv').push([{ key: 'y', val: 2 }])
    b.getArray('kv').push([{ key: 'own', val: 0 }])
    // b gets only the second write: it waits, pending, for the first.
    Y.applyUpdateV2(b, Y.encodeStateAsUpdateV2(a, Y.encodeStateVectorFromUpdateV2(first)))
    expect(b.store.pendingStructs).not.toBeNull()
    // What Yjs encodes of b without its pending content.
    const pending = b.store.pendingStructs
    b.store.pendingStructs = null
    const integratedV2 = Y.encodeStateAsUpdateV2(b)
    const integratedV1 = Y.encodeStateAsUpdate(b)
    b.store.pendingStructs = pending
    expect(Buffer.from(encodeStateV2(b)).equals(Buffer.from(integratedV2))).toBe(true)
    expect(Buffer.from(encodeStateV1(b)).equals(Buffer.from(integratedV1))).toBe(true)
    Y.applyUpdateV2(b, first)
    same(b)
    expect(Buffer.from(encodeStateV1(b)).equals(Buffer.from(Y.encodeStateAsUpdate(b)))).toBe(true)
    expect(b.getArray('kv').length).toBe(3)
  })
})
