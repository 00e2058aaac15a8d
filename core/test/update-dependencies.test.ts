/**
 * `dependencies` must say exactly when Yjs would park an update as pending: a node that
 * applies what it accepts must never hold pending structs (Yjs integrates them later, past every
 * check, in the transaction of whatever update fills the gap; fuzz seed 97954241). Seeded:
 * honest writers' updates arrive at a replica in random order, alone or merged (Y.mergeUpdates
 * writes a Skip for each gap); forged updates whose references go round in a circle are refused.
 * `MESH_SEED` replays a run.
 */
import * as prng from 'lib0/prng'
import { waitUntil } from '@mesh/core/testing'
import { describe, expect, it } from 'vitest'
import { YKeyValue } from 'y-utility/y-keyvalue'
import * as Y from 'yjs'
import { checkBackboneUpdate, encodePeer, inspectUpdate } from '../src/replication/index.js'
import { internalRoom, openSocket, rawPeer, serveNode } from './helpers.js'
import { dependencies } from '../src/store/index.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))

/** Would applying `update` to a copy of `doc` leave structs pending? */
const parks = (doc: Y.Doc, update: Uint8Array): boolean => {
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  Y.applyUpdate(copy, update)
  const parked = copy.store.pendingStructs !== null
  copy.destroy()
  return parked
}

describe(`dependencies (seed ${seed}; MESH_SEED=${seed} replays)`, () => {
  it('accepts exactly the honest updates Yjs can integrate at once, in any order of arrival', () => {
    const gen = prng.create(seed)
    const writers = [1, 2, 3].map((client) => {
      const doc = new Y.Doc()
      doc.clientID = client * 1000 + prng.uint32(gen, 0, 999)
      return doc
    })
    const updates: Uint8Array[] = []
    for (const doc of writers) doc.on('update', (u: Uint8Array) => updates.push(u))
    for (let step = 0; step < 300; step++) {
      const doc = prng.oneOf(gen, writers)
      const action = prng.uint32(gen, 0, 9)
      if (action < 5) new YKeyValue<number>(doc.getArray('kv')).set(`k${prng.uint32(gen, 0, 9)}`, step)
      else if (action < 6) new YKeyValue<number>(doc.getArray('kv')).delete(`k${prng.uint32(gen, 0, 9)}`)
      else if (action < 8) doc.getText('t').insert(prng.uint32(gen, 0, doc.getText('t').length), `s${step}`)
      else {
        // Writers exchange what they have: later writes refer to each other's content.
        const other = prng.oneOf(gen, writers)
        if (other !== doc) Y.applyUpdate(doc, Y.encodeStateAsUpdate(other, Y.encodeStateVector(doc)))
      }
    }
    const replica = new Y.Doc()
    let accepted = 0
    let refused = 0
    for (let round = 0; round < 600 && accepted < updates.length; round++) {
      // One update, or several merged (gaps between them become Skips).
      const picked = Array.from({ length: prng.uint32(gen, 1, 3) }, () => prng.oneOf(gen, updates))
      const update = picked.length === 1 ? (picked[0] as Uint8Array) : Y.mergeUpdates(picked)
      const { missing } = dependencies(replica, Y.decodeUpdate(update).structs)
      expect(missing === undefined, `round ${round}: dependencies says ${missing ?? 'ready'}`).toBe(
        !parks(replica, update),
      )
      if (missing !== undefined) {
        refused++
        continue
      }
      Y.applyUpdate(replica, update)
      accepted++
      expect(replica.store.pendingStructs).toBeNull()
    }
    // Both answers were exercised.
    expect(accepted).toBeGreaterThan(10)
    expect(refused).toBeGreaterThan(10)
  })

  it('refuses structs whose references go round in a circle, which Yjs parks for good', () => {
    const writer = new Y.Doc()
    writer.clientID = 7
    const kv = writer.getArray('kv')
    kv.push([{ key: 'a', val: 1 }])
    kv.push([{ key: 'b', val: 2 }])
    const other = new Y.Doc()
    other.clientID = 8
    Y.applyUpdate(other, Y.encodeStateAsUpdate(writer))
    other.getArray('kv').insert(1, [{ key: 'c', val: 3 }])
    const update = Y.encodeStateAsUpdate(other)
    const fresh = new Y.Doc()
    expect(dependencies(fresh, Y.decodeUpdate(update).structs).missing).toBeUndefined()
    // Client 7's first item now waits for client 8's, which waits for client 7's second.
    const structs = Y.decodeUpdate(update).structs
    const first = structs.find((s) => s.id.client === 7 && s.id.clock === 0) as Y.Item
    first.origin = Y.createID(8, 0)
    expect(dependencies(fresh, structs).missing).toMatch(/after it/)
    // An item that refers to a later one of its own writer.
    const own = Y.decodeUpdate(Y.encodeStateAsUpdate(writer)).structs
    // Yjs merged the two pushes into one item; split one by hand is not needed: point the item at itself.
    const item = own[0] as Y.Item
    item.origin = Y.createID(7, item.length - 1)
    expect(dependencies(fresh, own).missing).toMatch(/after it/)
  })
})

describe('a copy of held ids that names another type', () => {
  /** A doc holding writer 9's first entry in root type "ov", and a copy of clocks 0-4 in "kv" with an entry after it. */
  const forged = () => {
    const held = new Y.Doc()
    const first = new Y.Doc()
    first.clientID = 9
    first.getArray('ov').push([{ key: 'a', val: 1 }])
    Y.applyUpdate(held, Y.encodeStateAsUpdate(first))
    const copy = new Y.Doc()
    copy.clientID = 9
    copy.getArray('kv').push([1, 2, 3, 4, 5].map((n) => ({ key: `k${n}`, val: n })))
    copy.getArray('kv').delete(0, 5)
    copy.getArray('kv').push([{ key: 'b', val: 2 }])
    return { held, update: Y.encodeStateAsUpdate(copy) }
  }

  it('is refused by dependencies and by the backbone check', () => {
    const { held, update } = forged()
    expect(dependencies(held, Y.decodeUpdate(update).structs).missing).toMatch(/another type/)
    expect(() => checkBackboneUpdate(held, { update, format: 'v1' })).toThrow(/another type/)
  })

  it('a copy of held ids in the same type passes', () => {
    const writer = new Y.Doc()
    writer.clientID = 9
    writer.getArray('kv').push([{ key: 'a', val: 1 }])
    const held = new Y.Doc()
    Y.applyUpdate(held, Y.encodeStateAsUpdate(writer))
    writer.getArray('kv').push([{ key: 'b', val: 2 }])
    // The whole state again: it repeats clock 0 and adds clock 1.
    const update = Y.encodeStateAsUpdate(writer)
    expect(dependencies(held, Y.decodeUpdate(update).structs).missing).toBeUndefined()
    expect(() => checkBackboneUpdate(held, { update, format: 'v1' })).not.toThrow()
  })
})

describe('an update that lists a writer twice', () => {
  // Yjs integrates only the last run of a client listed twice, while every check reads all of
  // them: one unauthenticated light peer got text into `kv` this way and made every peer of its
  // node refuse that node's traffic for good.
  it('is refused before anything reads it', () => {
    const writer = new Y.Doc()
    writer.clientID = 5
    const runs: Uint8Array[] = []
    writer.on('update', (u: Uint8Array) => runs.push(u))
    writer.getArray('ov').push([{ key: 'a', val: 1 }])
    writer.getArray('kv').push([{ key: 'b', val: 2 }])
    // Each V1 update here is [1 client][its run][0 deletions]: join the two runs under one header.
    const [first, second] = runs as [Uint8Array, Uint8Array]
    const twice = Uint8Array.from([2, ...first.subarray(1, -1), ...second.subarray(1, -1), 0])
    expect(Y.decodeUpdate(twice).structs.map((s) => s.id.client)).toEqual([5, 5])
    expect(() => inspectUpdate(twice, 'v1')).toThrow(/twice/)
  })
})

describe("content under the node's own client id", () => {
  // Only the node writes under its client id (a new one every process). A forged struct of it
  // would wait for the node's next writes and be integrated among them unchecked; a forged
  // deletion would remove each of them as it is written.
  it('is refused from peers and light peers, and the node keeps every write it makes after', async () => {
    const cleanups: Array<() => void> = []
    const a = await serveNode({ name: 'own-id' })
    try {
      const own = a.node.clientId
      const forger = new Y.Doc()
      forger.clientID = own
      forger.getArray('ov').push([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => ({ key: `forged:${n}`, val: n })))
      const future = Y.encodeStateAsUpdate(forger, Y.encodeStateVector(new Map([[own, 3]]) as never))
      const deleter = new Y.Doc()
      deleter.getArray('kv').push([{ key: 'x', val: 1 }])
      const deletions = Y.mergeUpdates([
        Y.encodeStateAsUpdate(deleter),
        // Deletes clocks 0-9 of the node's id, which it has not written yet.
        Uint8Array.from([0, 1, ...varUint(own), 1, 0, 10]),
      ])
      for (const update of [future, deletions]) {
        const peer = await rawPeer(a.url, cleanups)
        peer.ws.send(encodePeer.updates('default', [update]))
        expect(await peer.closed).toBeGreaterThanOrEqual(4400)
      }
      // From a light peer: the struct is refused; the deletions wait for content the node lacks,
      // so they are dropped (and the client asked to sync again), not kept.
      const light = await openSocket(`${a.url}/default`)
      light.ws.send(Uint8Array.from([0, 2, ...varUint(future.length), ...future]))
      expect((await light.closed).code).toBe(4403)
      const other = await openSocket(`${a.url}/default`)
      await waitUntil('the node speaks first', () => other.messages.length > 0)
      other.ws.send(Uint8Array.from([0, 2, ...varUint(deletions.length), ...deletions]))
      await waitUntil('asked to sync again', () => other.messages.slice(1).some((m) => m[0] === 0 && m[1] === 0))
      other.ws.close()
      for (let i = 0; i < 12; i++) await a.node.put(`mine-${i}`, i)
      expect(Array.from({ length: 12 }, (_, i) => a.node.get(`mine-${i}`))).toEqual(
        Array.from({ length: 12 }, (_, i) => i),
      )
      expect(a.node.get('forged:5')).toBeUndefined()
      expect(internalRoom(a.node).doc.store.pendingStructs).toBeNull()
      expect(internalRoom(a.node).doc.store.pendingDs).toBeNull()
    } finally {
      for (const c of cleanups) c()
      await a.close()
    }
  })
})

/** lib0's variable-length unsigned integer. */
const varUint = (n: number): number[] => {
  const bytes: number[] = []
  while (n > 127) {
    bytes.push(128 | (n & 127))
    n = Math.floor(n / 128)
  }
  bytes.push(n)
  return bytes
}
