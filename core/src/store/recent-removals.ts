/**
 * Distinct keys whose removals share one key string at most. Past it a removal keeps its own
 * string, as it did before sharing: a full table costs about 30 bytes per key, so a store
 * removing only keys it never sees again pays a bounded price for it.
 */
export const MAX_SHARED_KEYS = 2048

/**
 * The ids and keys of the last `capacity` entries removed from an index, the oldest
 * overwritten, in parallel arrays: nothing allocated per removal. A `Map` dropped its oldest
 * with `keys().next()`, which in V8 walks over every entry deleted from the front since the
 * table was last rebuilt: thousands per write under steady overwrites, the index's largest cost
 * in the soak (4.4 % of a node's CPU), besides a `client:clock` string per removal.
 *
 * Removals of one key share one key string. Every entry of the array holds its own copy of
 * its key (decoded from the update that brought it), so a key overwritten 10,000 times filled
 * the memory with 10,000 equal strings: about 24 bytes per removal kept, a growth of every
 * node's heap through the first 10,000 overwrites of each room (the soak's rooms that only
 * light peers write to grew that way for hours).
 */
export class RecentRemovals {
  readonly #clients: Float64Array
  readonly #clocks: Float64Array
  readonly #keys: Array<string | undefined>
  /** Key → its latest position in `#keys`, whose string the next removal of that key reuses. */
  readonly #latest = new Map<string, number>()
  #next = 0

  constructor(capacity: number) {
    this.#clients = new Float64Array(capacity)
    this.#clocks = new Float64Array(capacity)
    this.#keys = new Array<string | undefined>(capacity).fill(undefined)
  }

  /** Remembers that the entry of `key` with id `client`:`clock` was removed. */
  add(client: number, clock: number, key: string): void {
    const at = this.#next
    const keys = this.#keys
    const latest = this.#latest
    const overwritten = keys[at]
    // The oldest removal goes: its key is no longer shared from here unless a later one is.
    if (overwritten !== undefined && latest.get(overwritten) === at) latest.delete(overwritten)
    const before = latest.get(key)
    let shared = key
    if (before !== undefined) shared = keys[before] ?? key
    if (before !== undefined || latest.size < MAX_SHARED_KEYS) latest.set(key, at)
    this.#clients[at] = client
    this.#clocks[at] = clock
    keys[at] = shared
    this.#next = at + 1 === keys.length ? 0 : at + 1
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
