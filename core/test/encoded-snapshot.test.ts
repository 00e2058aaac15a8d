/**
 * Anti-entropy keeps its snapshots (the room's last round, each peer's last check) encoded.
 * `EncodedSnapshot` must judge containment, reading its bytes, exactly as `snapshotContains`
 * judges the `Y.Snapshot` it was made from: random snapshots (client ids past 2^31, unsorted,
 * overlapping and empty delete ranges, as a peer may send them) and real documents.
 * Seeded: `MESH_SEED` replays a run.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { EncodedSnapshot, snapshotContains } from '../src/replication/index.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))

const CLIENTS = [0, 1, 7, 2 ** 30, 2 ** 31 + 5, 2 ** 32 - 1, 3_000_000_000]

/** A random snapshot over a few of CLIENTS, with delete ranges in no particular order. */
const randomSnapshot = (gen: prng.PRNG): Y.Snapshot => {
  const sv = new Map<number, number>()
  const ds = Y.createDeleteSet()
  for (const client of CLIENTS) {
    if (prng.bool(gen)) sv.set(client, prng.uint32(gen, 0, 12))
    if (prng.uint32(gen, 0, 2) === 0) {
      const items: Array<{ clock: number; len: number }> = []
      for (let n = prng.uint32(gen, 0, 4); n > 0; n--)
        items.push({ clock: prng.uint32(gen, 0, 10), len: prng.uint32(gen, 0, 4) })
      ;(ds.clients as Map<number, unknown>).set(client, items)
    }
  }
  return new Y.Snapshot(ds, sv)
}

/** Every way containment is asked, encoded against decoded, must agree with `snapshotContains`. */
const agree = (a: Y.Snapshot, b: Y.Snapshot): void => {
  const expected = snapshotContains(a, b)
  expect(EncodedSnapshot.of(a).contains(b)).toBe(expected)
  expect(EncodedSnapshot.of(b).within(a)).toBe(expected)
}

describe(`EncodedSnapshot (MESH_SEED=${seed})`, () => {
  it('judges containment as snapshotContains does, on random snapshots', () => {
    const gen = prng.create(seed)
    let contained = 0
    for (let run = 0; run < 3000; run++) {
      const a = randomSnapshot(gen)
      const b = prng.bool(gen) ? randomSnapshot(gen) : a
      if (snapshotContains(a, b)) contained++
      agree(a, b)
      agree(b, a)
    }
    // Both answers were exercised.
    expect(contained).toBeGreaterThan(100)
    expect(contained).toBeLessThan(2900)
  })

  it('judges containment as snapshotContains does, on documents that write and delete', () => {
    const gen = prng.create(seed + 1)
    const docs = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
    docs.forEach((doc, i) => (doc.clientID = CLIENTS[i + 3] as number))
    for (let step = 0; step < 300; step++) {
      const doc = prng.oneOf(gen, docs)
      const array = doc.getArray<number>('kv')
      if (array.length > 0 && prng.bool(gen)) array.delete(prng.uint32(gen, 0, array.length - 1), 1)
      else array.push([step])
      if (prng.uint32(gen, 0, 3) === 0) {
        const other = prng.oneOf(gen, docs)
        Y.applyUpdate(other, Y.encodeStateAsUpdate(doc, Y.encodeStateVector(other)))
      }
      for (const x of docs) for (const y of docs) agree(Y.snapshot(x), Y.snapshot(y))
    }
  })

  it('keeps a copy: the snapshot it was made from may change afterwards', () => {
    const doc = new Y.Doc()
    doc.getArray<number>('kv').push([1, 2])
    const before = Y.snapshot(doc)
    const kept = EncodedSnapshot.of(before)
    doc.getArray<number>('kv').delete(0, 1)
    doc.getArray<number>('kv').push([3])
    const after = Y.snapshot(doc)
    expect([kept.contains(before), kept.within(before), kept.contains(after), kept.within(after)]).toEqual([
      true,
      true,
      false,
      true,
    ])
    expect(Y.equalSnapshots(Y.decodeSnapshot(kept.bytes), before)).toBe(true)
  })
})
