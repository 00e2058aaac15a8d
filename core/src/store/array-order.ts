import * as Y from 'yjs'

/** The id of one element of a Y.Array: its item's client and the element's own clock. */
export interface ElementId {
  client: number
  clock: number
}

/** True when `item` holds the element `id`. */
const holds = (item: Y.Item, id: ElementId): boolean =>
  item.id.client === id.client && id.clock >= item.id.clock && id.clock < item.id.clock + item.length

/** Most items walked back to tell whether a remote write had seen this node's entry. */
const MAX_CONCURRENCY_WALK = 10_000

/**
 * True when element `offset` of `item` stands right of `slot` in the array. Walks right from
 * the new element, which a merge places near the end, so the walk is short: it never scans
 * from the old entry, which may sit at the very start.
 */
export const isRightOf = (item: Y.Item, offset: number, slot: ElementId): boolean => {
  if (
    slot.client === item.id.client &&
    slot.clock > item.id.clock + offset &&
    slot.clock < item.id.clock + item.length
  ) {
    return false
  }
  for (let s: Y.Item | null = item.right; s !== null; s = s.right) {
    if (holds(s, slot)) return false
  }
  return true
}

/**
 * True when the writer of element `offset` of `item` had not seen the entry `mine`. Writers
 * append at the end of the array, so an appended element left of `mine`, or one whose left
 * origin (the end when it was written) stands left of `mine`, was written without it.
 * Anything it cannot tell for sure counts as seen (no report rather than a false one): an
 * element placed before others (a conflict policy's write-back, or an app's insert), an item
 * whose left origin is its own writer's previous element (a run Yjs split, or a second append:
 * the origin that tells is further left), an element past the first of an item (merged
 * appends: its origin is its left neighbour), and a walk too long to finish.
 */
export const unseenBy = (item: Y.Item, offset: number, mine: ElementId): boolean => {
  if (item.rightOrigin !== null) return false
  if (!isRightOf(item, offset, mine)) return true
  const origin = item.origin
  if (origin === null) return true
  // Element `offset` > 0 of an item has its own left neighbour as origin, not the item's.
  if (offset > 0 || (origin.client === item.id.client && origin.clock === item.id.clock - 1)) return false
  let steps = 0
  for (let s: Y.Item | null = item.left; s !== null && steps < MAX_CONCURRENCY_WALK; s = s.left, steps++) {
    if (holds(s, origin)) return false
    if (holds(s, mine)) return true
  }
  return false
}

/** True when the element `id` was appended at the end of the array when written (not a write-back). */
export const appended = (doc: Y.Doc, id: ElementId): boolean => {
  const item = Y.getItem(doc.store, Y.createID(id.client, id.clock))
  return item instanceof Y.Item && item.rightOrigin === null
}
