import * as Y from 'yjs'
import { KV_ARRAY } from './kv-index.js'

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
 * True when a (V1) update from a light peer inserts store entries that carry an owner or an
 * expiry. Only nodes write those: an owner ties a key to a node's membership and an expiry
 * makes a sweeper remove it, so a browser tab must not claim either.
 */
export const claimsNodeFields = (doc: Y.Doc, update: Uint8Array): boolean => {
  const type = doc.share.get(KV_ARRAY)
  for (const struct of Y.decodeUpdate(update).structs) {
    if (!(struct instanceof Y.Item) || !(struct.content instanceof Y.ContentAny)) continue
    if (!struct.content.getContent().some(claimsOwnership)) continue
    if (insertsInto(doc, struct, KV_ARRAY, type)) return true
  }
  return false
}
