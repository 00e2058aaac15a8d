/**
 * On a real node (found by review, `w10-review2`): a write whose writer had seen this node's
 * entry (through a third writer's overwrite) reaches the node, over a peer link, before that
 * overwrite does. The node reported a race that did not happen: under `exception` it raised a
 * conflict and quarantined the room for a key nobody wrote concurrently.
 */
import { waitUntil } from '@mesh/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { encodePeer } from '../src/replication/index.js'
import { rawPeer, serveNode } from './helpers.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const doc = (clientID: number, from: Y.Doc): Y.Doc => {
  const d = new Y.Doc()
  d.clientID = clientID
  Y.applyUpdate(d, Y.encodeStateAsUpdate(from))
  return d
}

/** Overwrites `key` as a writer does: appends the new entry, deletes the old one, in one transaction. */
const overwrite = (d: Y.Doc, key: string, val: string): Uint8Array => {
  // The transaction's own update, as a node relays it (a diff against a state vector would
  // carry the writer's whole delete set).
  let update: Uint8Array = new Uint8Array()
  const keep = (u: Uint8Array): void => {
    update = u
  }
  d.on('update', keep)
  const array = d.getArray<{ key: string; val: unknown }>('kv')
  d.transact(() => {
    const i = array.toArray().findIndex((e) => e.key === key)
    if (i >= 0) array.delete(i, 1)
    array.push([{ key, val }])
  })
  d.off('update', keep)
  return update
}

/** Removes `key` as a writer does; returns the transaction's own update. */
const remove = (d: Y.Doc, key: string): Uint8Array => {
  let update: Uint8Array = new Uint8Array()
  const keep = (u: Uint8Array): void => {
    update = u
  }
  d.on('update', keep)
  const array = d.getArray<{ key: string; val: unknown }>('kv')
  array.delete(
    array.toArray().findIndex((e) => e.key === key),
    1,
  )
  d.off('update', keep)
  return update
}

describe('a node reports no race for a write that had seen its entry through a third writer', () => {
  it.each([
    ['exception', false],
    ['warn', false],
    ['exception', true],
    ['warn', true],
  ] as const)('under %s (the write arrives already removed: %s)', async (onConflict, removed) => {
    const s = await serveNode({ name: 'N', onConflict })
    cleanups.push(() => s.close())
    const n = s.node
    const conflicts: string[] = []
    n.on('conflict', (e) => conflicts.push(...e.error.keys.map((k) => `${k.key}: ${JSON.stringify(k.remote)}`)))
    await n.put('k', 'n-a')
    const peer = await rawPeer(s.url, cleanups)
    const state = n.room('default').doc
    // Three writers behind the peer. W (lower client id) overwrites N's entry while D appends
    // another key at once, so D's entry stands right of W's; B has both and overwrites W's.
    const w = doc(10, state)
    const d = doc(20, state)
    const uw = overwrite(w, 'k', 'w-1')
    const ud = overwrite(d, 'z', 'd-z')
    const b = doc(30, state)
    Y.applyUpdate(b, uw)
    Y.applyUpdate(b, ud)
    const ub = overwrite(b, 'k', 'b-1')
    // C has B's write and removes the key: N gets that removal before B's write.
    const c = doc(40, state)
    for (const u of [uw, ud, ub]) Y.applyUpdate(c, u)
    const uc = remove(c, 'k')
    // One at a time, as links of different speeds would bring them.
    const order: Array<readonly [Uint8Array, number]> = removed
      ? [
          [ud, 20],
          [uc, 0],
          [ub, 30],
        ]
      : [
          [ud, 20],
          [ub, 30],
        ]
    for (const [u, client] of order) {
      peer.ws.send(encodePeer.updates('default', [u]))
      if (client === 0) await waitUntil('N holds the removal', () => state.store.pendingDs !== null)
      else await waitUntil(`N has ${client}'s write`, () => Y.getState(state.store, client) > 0)
    }
    peer.ws.send(encodePeer.updates('default', [uw]))
    const raised = (): string[] => [
      ...conflicts,
      ...n.conflicts().flatMap((e) => e.keys.map((k) => `${k.key}: ${JSON.stringify(k.remote)}`)),
    ]
    // Under exception the room stops taking writes once it raised.
    await waitUntil(
      'N has W or raised',
      () => Y.getState(state.store, 10) > 0 || (onConflict === 'exception' && raised().length > 0),
    )
    if (onConflict === 'warn') expect(n.get('k')).toBe(removed ? undefined : 'b-1')
    // B wrote b-1 having seen w-1, which replaced N's n-a: nothing was concurrent with N's write.
    expect(raised()).toEqual([])
  })
})
