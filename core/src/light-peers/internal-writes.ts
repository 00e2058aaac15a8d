import * as Y from 'yjs'
import { KV_ARRAY } from '../store/index.js'

/** The integrated item with this id, or undefined when the doc does not have it (yet). */
const known = (doc: Y.Doc, id: Y.ID): Y.Item | undefined => {
  const structs = doc.store.clients.get(id.client)
  const last = structs?.[structs.length - 1]
  if (!last || last.id.clock + last.length <= id.clock) return undefined
  const struct = Y.getItem(doc.store, id)
  return struct instanceof Y.Item ? struct : undefined
}

/** True when `item` (from a decoded update) goes into the root type `type` of `doc`. */
const insertsInto = (doc: Y.Doc, item: Y.Item, name: string, type: unknown): boolean => {
  if (typeof item.parent === 'string') return item.parent === name
  // An insertion next to existing content names its parent only through its neighbours.
  for (const ref of [item.origin, item.rightOrigin]) {
    const neighbour = ref ? known(doc, ref) : undefined
    if (neighbour && neighbour.parent === type) return true
  }
  return false
}

const claimsOwnership = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && ('owner' in value || 'exp' in value)

/**
 * Why a (V1) update from a light peer must be refused, or undefined when it may be applied:
 * - it inserts store entries that carry an owner or an expiry. Only nodes write those: an
 *   owner ties a key to a node's membership and an expiry makes a sweeper remove it;
 * - it depends on structs that neither the doc nor the update holds (a gap in a client's
 *   clocks, or a reference to an unknown item): Yjs would park it as pending for good, since
 *   a tab writes its own structs in order and nobody else has the missing ones;
 * - it deletes ids the doc does not hold yet: Yjs would keep the deletion and apply it to
 *   whatever a node writes under those ids later (a node's own future writes).
 */
export const refuseLightUpdate = (doc: Y.Doc, update: Uint8Array): string | undefined => {
  const { structs, ds } = Y.decodeUpdate(update)
  const type = doc.share.get(KV_ARRAY)
  const ends = new Map<number, number>()
  for (const struct of structs) {
    const end = struct.id.clock + struct.length
    const start = ends.get(struct.id.client) ?? Y.getState(doc.store, struct.id.client)
    if (struct.id.clock > start) return 'an update with a gap in its clocks, which can never be applied'
    ends.set(struct.id.client, Math.max(start, end))
  }
  const holds = (id: Y.ID): boolean => id.clock < Math.max(ends.get(id.client) ?? 0, Y.getState(doc.store, id.client))
  for (const struct of structs) {
    if (!(struct instanceof Y.Item)) continue
    for (const ref of [struct.origin, struct.rightOrigin, struct.parent instanceof Y.ID ? struct.parent : null]) {
      if (ref && !holds(ref)) return 'an update that refers to content nobody sent'
    }
    if (
      struct.content instanceof Y.ContentAny &&
      struct.content.getContent().some(claimsOwnership) &&
      insertsInto(doc, struct, KV_ARRAY, type)
    ) {
      return 'store entries with an owner or an expiry (only nodes write those)'
    }
  }
  for (const [client, ranges] of ds.clients) {
    for (const { clock, len } of ranges) {
      if (clock + len > Math.max(ends.get(client) ?? 0, Y.getState(doc.store, client))) {
        return 'deletions of content that does not exist yet'
      }
    }
  }
  return undefined
}
