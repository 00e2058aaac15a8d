import * as Y from 'yjs'
import type { KvEntry } from './kv-entry.js'

/**
 * Elements other writers may add after this node's last write before its next one starts a new
 * lane at the end: keeps its new entries near the end, where comparing positions in a race is
 * cheap (array-order.ts isRightOf), for the price of one unmerged item per restart.
 */
const LANE_RESTART = 4096

/**
 * Where a node's new entries go in the key/value array, and their insertion by item (not by
 * index). Two places: the end of the array, and right after the last element this node
 * inserted (its lane).
 *
 * Why a lane: Yjs never frees a list item, it only merges a deleted one into its left
 * neighbour when both are of one writer, consecutive in its clock and adjacent in the list.
 * One writer's overwrites appended at the end do merge. But writers whose appends interleave
 * (every node of a cluster writing at once) leave each overwritten entry as an item of its own,
 * about 260 bytes on every replica, for good: the soak's 3 nodes at 1,700 writes/s grew 1.3
 * MiB/min. Written in its lane, a node's entries stay adjacent whatever others write, so its
 * overwritten ones merge into runs and memory follows the live keys.
 */
export class KvPlacement {
  readonly #array: Y.Array<unknown>
  readonly #doc: Y.Doc
  /** Id of the last element a local write appended at the end: where the search for the end starts. */
  #tail: Y.ID | null = null
  /** Id of the last element this node inserted. */
  #lane: Y.ID | null = null
  /** Elements others added since then. */
  #foreign = 0

  constructor(array: Y.Array<unknown>, doc: Y.Doc) {
    this.#array = array
    this.#doc = doc
  }

  /**
   * The last element of the array, found from the end of the previous local write, since
   * Y.Array's own ways to the end cost O(items): `push` walks from its rightmost search marker,
   * which only indexed access moves, and indexed access walks back over every unmerged item of
   * one client.
   */
  end(): Y.Item | null {
    const known = this.#tail && Y.getItem(this.#doc.store, this.#tail)
    let item = known instanceof Y.Item && known.parent === this.#array ? known : this.#array._start
    while (item?.right) item = item.right
    return item
  }

  /** Counts elements another writer added. */
  noteForeign(elements: number): void {
    this.#foreign += elements
  }

  /** The last element this node inserted (split after it), else (or when it fell far behind) the end. */
  lane(transaction: Y.Transaction): Y.Item | null {
    const id = this.#lane
    const known = id && this.#foreign <= LANE_RESTART && Y.getItem(this.#doc.store, id)
    if (!id || !(known instanceof Y.Item) || known.parent !== this.#array || known.parentSub !== null) return this.end()
    return Y.getItemCleanEnd(transaction, this.#doc.store, id)
  }

  /** Integrates `entries` as one new item right of `left` (null: at the start); returns its id. */
  insertAfter(transaction: Y.Transaction, left: Y.Item | null, entries: KvEntry[]): Y.ID {
    const right = left ? left.right : this.#array._start
    const id = Y.createID(this.#doc.clientID, Y.getState(this.#doc.store, this.#doc.clientID))
    const item = new Y.Item(
      id,
      left,
      left && left.lastId,
      right,
      right && right.id,
      this.#array,
      null,
      // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- Yjs's content classes do not extend AbstractContent, which its types name
      new Y.ContentAny(entries),
    )
    item.integrate(transaction, 0)
    this.forgetMarkers()
    if (right === null) this.#tail = item.lastId
    this.#lane = item.lastId
    this.#foreign = 0
    return id
  }

  /**
   * Index-based access to the array (an app's, or y-utility's: nothing in Mesh uses it) relies
   * on search markers, which Yjs moves only when changes go through index-based calls or come
   * from remote transactions; changes made here by item would leave them pointing wrong.
   */
  forgetMarkers(): void {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- Yjs types it non-null; AbstractType starts it as null
    this.#array._searchMarker?.splice(0)
  }
}
