import * as Y from 'yjs'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs types its shared types by event
type SharedType = Y.AbstractType<Y.YEvent<any>>

const parentOf = (item: Y.Item): SharedType | undefined =>
  item.parent instanceof Y.AbstractType ? (item.parent as SharedType) : undefined

/** The integrated item with this id, or undefined when the doc does not have it (yet). */
const known = (doc: Y.Doc, id: Y.ID): Y.Item | undefined => {
  const clock = doc.store.clients.get(id.client)
  const last = clock?.[clock.length - 1]
  if (!last || last.id.clock + last.length <= id.clock) return undefined
  const struct = Y.getItem(doc.store, id)
  return struct instanceof Y.Item ? struct : undefined
}

/**
 * True when a (V1) update inserts into, or deletes from, one of the `internal` root types of
 * `doc`: structures that only nodes write (ownership and expiry of keys), which a light peer
 * must not touch. An insertion names its parent either directly (a new key) or through the
 * item it follows or precedes (an overwrite), so both are resolved against the doc.
 */
export const touchesInternal = (doc: Y.Doc, update: Uint8Array, internal: readonly string[]): boolean => {
  const types = new Set<SharedType>()
  for (const name of internal) {
    const type = doc.share.get(name)
    if (type) types.add(type as SharedType)
  }
  if (types.size === 0) return false
  const { structs, ds } = Y.decodeUpdate(update)
  for (const struct of structs) {
    if (!(struct instanceof Y.Item)) continue
    if (typeof struct.parent === 'string') {
      if (internal.includes(struct.parent)) return true
      continue
    }
    for (const ref of [struct.origin, struct.rightOrigin]) {
      const neighbour = ref ? known(doc, ref) : undefined
      const parent = neighbour && parentOf(neighbour)
      if (parent && types.has(parent)) return true
    }
  }
  for (const [client, ranges] of ds.clients) {
    for (const { clock, len } of ranges) {
      let at = clock
      while (at < clock + len) {
        const item = known(doc, Y.createID(client, at))
        if (!item) break
        const parent = parentOf(item)
        if (parent && types.has(parent)) return true
        at = item.id.clock + item.length
      }
    }
  }
  return false
}
