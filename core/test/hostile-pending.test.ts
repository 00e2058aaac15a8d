/**
 * Live updates that refer to content nobody has: Yjs parks them (pending structs and deletions)
 * and retries all of them on every later transaction of the room. A peer must not be able to
 * make that grow without bound, nor make one frame of them quadratic (before the bound, one
 * 160 KB frame of 16,000 such deletions held a node's event loop for about 50 s; after it, about
 * 6 s on a loaded machine, one transaction per deletion of another writer's content, which the
 * conflict check needs; see MAX_PENDING_BYTES).
 */
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { waitUntil } from '@mesh/core/testing'
import { afterEach, expect, it } from 'vitest'
import { encodePeer, MAX_PENDING_BYTES } from '../src/replication/index.js'
import { internalRoom, rawPeer, serveNode, type ServedNode } from './helpers.js'

const cleanups: Array<() => void> = []
const served: ServedNode[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) c()
  for (const s of served.splice(0)) await s.close()
})

/** A V1 update that only deletes one item of `client` at `clock`, which nobody has. */
const deletionOfNothing = (client: number, clock: number): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, client)
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, clock)
  encoding.writeVarUint(e, 1)
  return encoding.toUint8Array(e)
}

/** A V1 update of `client` that starts at `clock` > 0: it waits for the clocks before it. */
const structAfterAGap = (client: number, clock: number): Uint8Array => {
  const doc = new Y.Doc()
  doc.clientID = client
  const array = doc.getArray('gap')
  for (let i = 0; i <= clock; i++) array.push([i])
  return Y.encodeStateAsUpdate(doc, Y.encodeStateVector(new Map([[client, clock]]) as never))
}

const pending = (s: ServedNode) => {
  const { pendingDs, pendingStructs } = internalRoom(s.node).doc.store
  return { deletions: pendingDs?.length ?? 0, structs: pendingStructs?.update.length ?? 0 }
}

it('a frame of 16,000 deletions of nothing, and 2,000 frames of updates after gaps, leave the room at most MAX_PENDING_BYTES parked; the node keeps replicating', async () => {
  const [a, b] = [await serveNode({ name: 'a' }), await serveNode({ name: 'b' })]
  served.push(a, b)
  await b.node.join([a.url])
  const peer = await rawPeer(a.url, cleanups)
  peer.ws.send(
    encodePeer.updates(
      'default',
      Array.from({ length: 16_000 }, (_, i) => deletionOfNothing(4242, i * 2)),
    ),
  )
  for (let i = 0; i < 2000; i++) peer.ws.send(encodePeer.updates('default', [structAfterAGap(5000 + i, 3)]))
  await a.node.put('after', 1)
  // The attack holds a's loop for seconds on a loaded machine (see above): wait past it.
  await waitUntil('b gets a write made after the attack', () => b.node.get('after') === 1, { timeoutMs: 60_000 })
  const parked = pending(a)
  expect(parked.deletions).toBeLessThanOrEqual(MAX_PENDING_BYTES.deletions)
  expect(parked.structs).toBeLessThanOrEqual(MAX_PENDING_BYTES.structs)
  const dropped = a.node.metrics().find((m) => m.name === 'mesh_pending_dropped_total')?.values[0]?.value
  expect(dropped, 'counted').toBeGreaterThan(0)
  expect(a.node.closed).toBe(false)
}, 120_000)

it('an honest gap (an update that arrives before the one it follows) is still applied once the gap fills', async () => {
  const s = await serveNode({ name: 'solo' })
  served.push(s)
  const peer = await rawPeer(s.url, cleanups)
  const doc = new Y.Doc()
  const kv = doc.getArray<{ key: string; val: number }>('kv')
  kv.push([{ key: 'x', val: 1 }])
  const first = Y.encodeStateAsUpdate(doc)
  const sv = Y.encodeStateVector(doc)
  kv.push([{ key: 'y', val: 2 }])
  const second = Y.encodeStateAsUpdate(doc, sv)
  peer.ws.send(encodePeer.updates('default', [second]))
  peer.ws.send(encodePeer.updates('default', [first]))
  await waitUntil('both keys', () => s.node.get('x') === 1 && s.node.get('y') === 2)
  expect(pending(s)).toEqual({ deletions: 0, structs: 0 })
})
