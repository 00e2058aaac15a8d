import * as Y from 'yjs'
import { MAX_VALUE_DEPTH } from '../common/index.js'
import { isKvEntry, KV_ARRAY } from './kv-entry.js'

type Struct = Y.Item | Y.GC | Y.Skip
type Content = Y.Item['content']

/**
 * Deepest nesting of one element of `any` content: a store entry `{ key, val }` wraps its value
 * in one more object, so a value at the limit makes an element one level deeper.
 */
export const MAX_ELEMENT_DEPTH = MAX_VALUE_DEPTH + 1

/** The integrated item with this id, or undefined when the doc does not have it (yet). */
const known = (doc: Y.Doc, id: Y.ID): Y.Item | undefined => {
  const structs = doc.store.clients.get(id.client)
  const last = structs?.[structs.length - 1]
  if (!last || last.id.clock + last.length <= id.clock) return undefined
  const struct = Y.getItem(doc.store, id)
  return struct instanceof Y.Item ? struct : undefined
}

/** Finds the items of a decoded update by id (any id inside an item's run). */
const itemsById = (structs: readonly Struct[]): ((id: Y.ID) => Y.Item | undefined) => {
  const byClient = new Map<number, Struct[]>()
  for (const struct of structs) {
    const list = byClient.get(struct.id.client)
    if (list) list.push(struct)
    else byClient.set(struct.id.client, [struct])
  }
  // An update may list a client twice; lookups need each client's structs in clock order.
  for (const list of byClient.values()) list.sort((x, y) => x.id.clock - y.id.clock)
  return (id) => {
    const list = byClient.get(id.client) ?? []
    let low = 0
    let high = list.length - 1
    while (low <= high) {
      const mid = (low + high) >>> 1
      const struct = list[mid]
      if (struct === undefined) break
      if (id.clock < struct.id.clock) high = mid - 1
      else if (id.clock >= struct.id.clock + struct.length) low = mid + 1
      else return struct instanceof Y.Item ? struct : undefined
    }
    return undefined
  }
}

/**
 * Tells whether items of a decoded update go into the root type `name` of `doc`. An item names
 * its parent only when it has no neighbours; otherwise it goes where its neighbours (origin and
 * right origin) are, and a neighbour may itself be an item of the same update, placed by its
 * own neighbours in turn. Follows those chains without recursion, remembering each answer.
 */
const parentResolver = (doc: Y.Doc, name: string, structs: readonly Struct[]): ((item: Y.Item) => boolean) => {
  const type = doc.share.get(name)
  const inUpdate = itemsById(structs)
  const answers = new Map<Y.Item, boolean>()
  return (item) => {
    const seen = new Set<Y.Item>()
    const todo = [item]
    let into = false
    for (let next = todo.pop(); next !== undefined && !into; next = todo.pop()) {
      if (seen.has(next)) continue
      seen.add(next)
      const answer = answers.get(next)
      if (answer !== undefined) {
        into = answer
        continue
      }
      if (typeof next.parent === 'string') {
        into = next.parent === name
        continue
      }
      // A parent given by id is a nested type: never a root type such as the store's array.
      if (next.parent !== null) continue
      for (const ref of [next.origin, next.rightOrigin]) {
        if (!ref) continue
        const neighbour = known(doc, ref)
        if (neighbour) into ||= type !== undefined && neighbour.parent === type
        else {
          const pending = inUpdate(ref)
          if (pending) todo.push(pending)
        }
      }
    }
    answers.set(item, into)
    return into
  }
}

const claimsOwnership = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && ('owner' in value || 'exp' in value)

/** Why an item inserted into the store's array must be refused, if it must. */
const refuseInStore = (content: Content, nodeFields: boolean): string | undefined => {
  if (content instanceof Y.ContentDeleted) return undefined
  if (!(content instanceof Y.ContentAny)) {
    return 'store content other than JSON entries (shared types, text, binary)'
  }
  const entries = content.getContent()
  if (!nodeFields && entries.some(claimsOwnership))
    return 'store entries with an owner or an expiry (only nodes write those)'
  if (!entries.every(isKvEntry)) return 'malformed store entries (each needs a non-empty string key and a val)'
  return undefined
}

/** True when `content` could be refused if it went into the store's array (decides whether to look). */
const suspect = (content: Content, nodeFields: boolean): boolean =>
  !(content instanceof Y.ContentDeleted) &&
  !(
    content instanceof Y.ContentAny &&
    content.getContent().every((e) => isKvEntry(e) && (nodeFields || !claimsOwnership(e)))
  )

/**
 * Why the decoded structs of an update must be refused whoever sent them, or undefined:
 * - a subdocument (anywhere): each is a `Y.Doc` of its own on every replica, and Yjs removes
 *   them recursively (thousands at once overflow the stack);
 * - anything in the store's array but well-formed JSON entries `{ key, val }`: shared types,
 *   text, binary or embeds, and entries replicas would ignore but stock y-utility clients choke
 *   on (null entries throw; entries without a value delete real ones);
 * - unless `nodeFields`, entries with an owner or an expiry, which only nodes write (an owner
 *   ties a key to a node's membership and an expiry makes a sweeper remove it).
 * An item's place is resolved through its neighbours in the doc or in the update itself.
 */
export const refuseContent = (
  doc: Y.Doc,
  structs: readonly Struct[],
  { nodeFields }: { nodeFields: boolean },
): string | undefined => {
  const intoStore = parentResolver(doc, KV_ARRAY, structs)
  for (const struct of structs) {
    if (!(struct instanceof Y.Item)) continue
    if (struct.content instanceof Y.ContentDoc) return 'subdocuments'
    if (suspect(struct.content, nodeFields) && intoStore(struct)) {
      const refusal = refuseInStore(struct.content, nodeFields)
      if (refusal) return refusal
    }
  }
  return undefined
}
