/**
 * The ids and keys of the last `capacity` entries removed from an index, the oldest
 * overwritten, in parallel arrays: nothing allocated per removal. A `Map` dropped its oldest
 * with `keys().next()`, which in V8 walks over every entry deleted from the front since the
 * table was last rebuilt: thousands per write under steady overwrites, the index's largest cost
 * in the soak (4.4 % of a node's CPU), besides a `client:clock` string per removal.
 */
export class RecentRemovals {
  readonly #clients: Float64Array
  readonly #clocks: Float64Array
  readonly #keys: Array<string | undefined>
  #next = 0

  constructor(capacity: number) {
    this.#clients = new Float64Array(capacity)
    this.#clocks = new Float64Array(capacity)
    this.#keys = new Array<string | undefined>(capacity).fill(undefined)
  }

  /** Remembers that the entry of `key` with id `client`:`clock` was removed. */
  add(client: number, clock: number, key: string): void {
    const at = this.#next
    this.#clients[at] = client
    this.#clocks[at] = clock
    this.#keys[at] = key
    this.#next = at + 1 === this.#keys.length ? 0 : at + 1
  }

  /** Calls `f` for every removal remembered. */
  forEach(f: (client: number, clock: number, key: string) => void): void {
    const keys = this.#keys
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- i < length
      if (key !== undefined) f(this.#clients[i]!, this.#clocks[i]!, key)
    }
  }
}
