import * as Y from 'yjs'
import { isSurelyRightOf, type ElementId } from './array-order.js'
import type { KvEntry } from './kv-entry.js'

/**
 * Elements other writers may add after this node's last write before its next one starts a new
 * lane at the end: keeps its new entries near the end, where comparing positions in a race is
 * cheap (array-order.ts isRightOf), for the price of one unmerged item per restart.
 */
const LANE_RESTART = 4096

/** Items walked, from the lane and from a replaced entry, to tell which stands right. */
const MAX_ORDER_WALK = 128

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
 *
 * A lane must never put a write left of the entry it replaces. Every replica keeps a key's
 * rightmost entry (KvIndex), so a replacement left of its predecessor can lose to an entry its
 * writer never saw, which a third replica had already deleted in favour of the predecessor:
 * each side deletes the other's and the key is gone everywhere. A write therefore stays in
 * the lane only when every entry it replaces is known to stand left of it; otherwise the lane
 * restarts at the end, right of everything this replica holds.
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
  /** This node's clock right after its last insert: anything else of its own since breaks the lane's order. */
  #ownNext = -1
  /** State vector when the lane last restarted at the end: what it holds stands left of the lane. */
  #restartedAt = new Map<number, number>()

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

  /**
   * The last element this node inserted (split after it), when every entry in `replaced`
   * stands left of it; else (or when the lane fell far behind) the end, where the lane restarts.
   */
  lane(transaction: Y.Transaction, replaced: readonly ElementId[]): Y.Item | null {
    const id = this.#lane
    const store = this.#doc.store
    const known = id && this.#foreign <= LANE_RESTART && Y.getItem(store, id)
    if (
      !id ||
      !(known instanceof Y.Item) ||
      known.parent !== this.#array ||
      known.parentSub !== null ||
      Y.getState(store, this.#doc.clientID) !== this.#ownNext
    ) {
      return this.#restart()
    }
    const left = Y.getItemCleanEnd(transaction, store, id)
    return replaced.every((e) => this.#leftOfLane(left, e)) ? left : this.#restart()
  }

  /** Makes the next lane write restart at the end: this node inserted out of its lane's order. */
  leaveLane(): void {
    this.#lane = null
  }

  #restart(): Y.Item | null {
    const sv = new Map<number, number>()
    for (const [client, structs] of this.#doc.store.clients) {
      const last = structs[structs.length - 1]
      if (last) sv.set(client, last.id.clock + last.length)
    }
    this.#restartedAt = sv
    return this.end()
  }

  /**
   * True when element `e` is known to stand left of the lane's last element, `lane`. This
   * node's own elements do: since the restart its inserts went only into the lane, in clock
   * order (`#ownNext` checks it), and what it held at the restart stands left of the restart.
   * So does anything this replica held at the restart. Else a short walk tells; a walk too
   * long counts as not known (the lane restarts: memory, never a lost key).
   */
  #leftOfLane(lane: Y.Item, e: ElementId): boolean {
    if (e.client === this.#doc.clientID || e.clock < (this.#restartedAt.get(e.client) ?? 0)) return true
    return isSurelyRightOf(lane, lane.length - 1, e, MAX_ORDER_WALK)
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
    this.#ownNext = Y.getState(this.#doc.store, this.#doc.clientID)
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
