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

/** The item that holds element `id` in the same array as `item`, when the doc holds it as an item. */
const itemOf = (item: Y.Item, id: ElementId): Y.Item | undefined => {
  const store = (item.parent as Y.AbstractType<unknown>).doc?.store
  if (!store?.clients.has(id.client) || id.clock >= Y.getState(store, id.client)) return undefined
  const found = Y.getItem(store, Y.createID(id.client, id.clock))
  return found instanceof Y.Item && found.parent === item.parent ? found : undefined
}

/**
 * True when element `offset` of `item` stands right of `slot` in the array. Walks right from
 * both at once: the walk that meets the other, or the one that reaches the end first, tells.
 * It costs the distance between the two or from the rightmost to the end, whichever is
 * shorter: a new element sits near the end (appended, or in a lane that restarts at the end
 * when it falls far behind, kv-placement.ts), while an old entry may sit at the very start.
 */
export const isRightOf = (item: Y.Item, offset: number, slot: ElementId): boolean =>
  compareWithin(item, offset, slot, Number.POSITIVE_INFINITY) ?? true

/**
 * True when element `offset` of `item` is known to stand right of `slot` after at most
 * `maxSteps` steps of each walk (see isRightOf); false when it stands left or the walks were
 * too short to tell.
 */
export const isSurelyRightOf = (item: Y.Item, offset: number, slot: ElementId, maxSteps: number): boolean =>
  compareWithin(item, offset, slot, maxSteps) === true

const compareWithin = (item: Y.Item, offset: number, slot: ElementId, maxSteps: number): boolean | undefined => {
  if (holds(item, slot)) return slot.clock <= item.id.clock + offset
  const other = itemOf(item, slot)
  let mine: Y.Item | null = item.right
  let theirs: Y.Item | null = other?.right ?? null
  for (let steps = 0; steps < maxSteps; steps++) {
    if (mine === null) return true
    if (holds(mine, slot)) return false
    if (other) {
      if (theirs === null) return false
      if (theirs === item) return true
      theirs = theirs.right
    }
    mine = mine.right
  }
  return undefined
}

/**
 * True when the writer of element `offset` of `item` had not seen the entry `mine`. Writers
 * append after the last item of their list, deleted ones included, and Yjs never reorders two
 * integrated items, so an appended element left of `mine`, or one whose left origin (the end
 * when it was written) stands left of `mine`, was written without it: had its writer held
 * `mine`, `mine` would have stood left of that end. This holds when the origin is the writer's
 * own previous element too (a second append whose writer had not received `mine` since).
 * Anything it cannot tell for sure counts as seen (no report rather than a false one): an
 * element placed before others (a conflict policy's write-back, or an app's insert), an origin
 * right of `mine` (the writer may have received `mine` after writing the origin, placed left
 * of it), an element past the first of an item (merged appends: its origin is its left
 * neighbour), and a walk too long to finish.
 */
export const unseenBy = (item: Y.Item, offset: number, mine: ElementId): boolean => {
  if (item.rightOrigin !== null) return false
  if (!isRightOf(item, offset, mine)) return true
  const origin = item.origin
  if (origin === null) return true
  // Element `offset` > 0 of an item has its own left neighbour as origin, not the item's.
  if (offset > 0) return false
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

/** Element `offset` of an item, when it holds JSON (ContentAny). */
export const entryAt = (item: Y.Item, offset: number): unknown =>
  item.content instanceof Y.ContentAny ? item.content.arr[offset] : undefined

/**
 * Calls `f` for every element of `array` among the structs of `client` with clocks in
 * [from, to), without splitting any struct.
 */
export const eachElement = (
  array: Y.Array<unknown>,
  client: number,
  from: number,
  to: number,
  f: (item: Y.Item, offset: number) => void,
): void => {
  // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- an array's doc is set once it is integrated
  const structs = array.doc!.store.clients.get(client)
  const last = structs?.[structs.length - 1]
  if (!structs || !last || from >= to || from >= last.id.clock + last.length) return
  // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- i < structs.length
  for (let i = Y.findIndexSS(structs, from); i < structs.length && structs[i]!.id.clock < to; i++) {
    // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- i < structs.length
    const item = structs[i]!
    // Items with a parentSub sit in the array's hidden map, not in its list: no reader sees them.
    if (!(item instanceof Y.Item) || item.parent !== array || item.parentSub !== null) continue
    const end = Math.min(to - item.id.clock, item.length)
    for (let offset = Math.max(from - item.id.clock, 0); offset < end; offset++) f(item, offset)
  }
}
