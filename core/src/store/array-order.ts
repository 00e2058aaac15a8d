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
 * append at the end of the array, so an element left of `mine`, or one whose left origin
 * (the end when it was written) stands left of `mine`, was written without it. Walks from
 * the element, where both sit near the end; a walk too long to finish counts as seen (no
 * report rather than a false one).
 */
export const unseenBy = (item: Y.Item, offset: number, mine: ElementId): boolean => {
  const origin = item.origin
  if (origin === null || !isRightOf(item, offset, mine)) return true
  let steps = 0
  for (let s: Y.Item | null = item.left; s !== null && steps < MAX_CONCURRENCY_WALK; s = s.left, steps++) {
    if (holds(s, origin)) return false
    if (holds(s, mine)) return true
  }
  return false
}
