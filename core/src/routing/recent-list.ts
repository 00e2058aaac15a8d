/** An item of a {@link RecentList}: its place in the list is kept on it. */
export interface Recent<T> {
  older: T | undefined
  newer: T | undefined
  listed: boolean
}

/**
 * Items, least recently touched first, threaded through the items themselves: moving one to
 * the end on every call allocates nothing. (A `Set` deleted from and added to on every call
 * rebuilt its table every few hundred calls, and the tables lived long enough to be promoted.)
 */
export class RecentList<T extends Recent<T>> {
  #oldest: T | undefined
  #newest: T | undefined
  #size = 0

  /** Items listed. */
  get size(): number {
    return this.#size
  }

  /** Moves `item` to the end (most recent), listing it if it is not. */
  touch(item: T): void {
    if (item === this.#newest) return
    this.delete(item)
    item.older = this.#newest
    item.newer = undefined
    if (this.#newest) this.#newest.newer = item
    else this.#oldest = item
    this.#newest = item
    item.listed = true
    this.#size++
  }

  /** Unlists `item`; a no-op when it is not listed. */
  delete(item: T): void {
    if (!item.listed) return
    const { older, newer } = item
    if (older) older.newer = newer
    else this.#oldest = newer
    if (newer) newer.older = older
    else this.#newest = older
    item.older = item.newer = undefined
    item.listed = false
    this.#size--
  }

  /** The items, least recently touched first; one may be deleted while it is visited. */
  *[Symbol.iterator](): Generator<T> {
    for (let item = this.#oldest; item;) {
      const next: T | undefined = item.newer
      yield item
      item = next
    }
  }
}
