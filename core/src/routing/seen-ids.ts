/**
 * The ids of the pub/sub messages a node handled lately, so a message that reaches it again
 * over another path of the mesh is dropped. Bounded: the oldest id goes first. A flooded
 * copy arrives within a few link latencies of the first, long before its id is evicted.
 */
export class SeenIds {
  readonly limit: number
  #ids = new Set<string>()

  constructor(limit: number) {
    this.limit = limit
  }

  get size(): number {
    return this.#ids.size
  }

  /** Records `id`; false when it was seen already. */
  add(id: string): boolean {
    if (this.#ids.has(id)) return false
    this.#ids.add(id)
    if (this.#ids.size > this.limit) {
      // A Set iterates in insertion order: the first id is the oldest.
      const oldest = this.#ids.values().next()
      if (!oldest.done) this.#ids.delete(oldest.value)
    }
    return true
  }

  clear(): void {
    this.#ids.clear()
  }
}
