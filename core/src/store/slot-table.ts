import type { KvEntry } from './kv-entry.js'

const INITIAL_CAPACITY = 64

/**
 * The live entries of a key/value index and the ids of their elements, in parallel arrays
 * indexed by a slot number: an entry reference, a clock and a small client number per slot,
 * with no object per key. An object per key (`{ client, clock, entry }`, plus a heap number for
 * the half of Yjs client ids that do not fit a small integer) cost a 1M-key replica about
 * 70 bytes per key; here a slot costs 20 (8 of them on the heap). Freed slots are reused.
 */
export class SlotTable {
  #entries: Array<KvEntry | undefined> = []
  #clocks = new Float64Array(INITIAL_CAPACITY)
  /** Per slot, the index of its client in `#clientIds`; for a free slot, the next free slot (-1: none). */
  #clients = new Int32Array(INITIAL_CAPACITY)
  #clientIds: number[] = []
  #clientIndex = new Map<number, number>()
  /** Slots handed out so far; slots past it were never used. */
  #used = 0
  #free = -1

  /** Makes room for `n` more slots at once (a cold join adds a million). */
  reserve(n: number): void {
    const need = this.#used + n
    if (need <= this.#clocks.length) return
    const capacity = Math.max(need, Math.ceil(this.#clocks.length * 1.5))
    const clocks = new Float64Array(capacity)
    clocks.set(this.#clocks)
    this.#clocks = clocks
    const clients = new Int32Array(capacity)
    clients.set(this.#clients)
    this.#clients = clients
  }

  /** A slot for `entry`, element `clock` of `client`. */
  add(entry: KvEntry, client: number, clock: number): number {
    let slot = this.#free
    if (slot >= 0) this.#free = this.#clients[slot] ?? -1
    else {
      if (this.#used === this.#clocks.length) this.reserve(1)
      slot = this.#used++
    }
    this.put(slot, entry, client, clock)
    return slot
  }

  /** Points `slot` at another entry (a key overwritten keeps its slot). */
  put(slot: number, entry: KvEntry, client: number, clock: number): void {
    let index = this.#clientIndex.get(client)
    if (index === undefined) {
      index = this.#clientIds.length
      this.#clientIds.push(client)
      this.#clientIndex.set(client, index)
    }
    if (slot === this.#entries.length) this.#entries.push(entry)
    else this.#entries[slot] = entry
    this.#clocks[slot] = clock
    this.#clients[slot] = index
  }

  /** Frees `slot` for reuse. */
  release(slot: number): void {
    this.#entries[slot] = undefined
    this.#clients[slot] = this.#free
    this.#free = slot
  }

  // The readers below are only called with slots the index holds: live ones.

  entry(slot: number): KvEntry {
    return this.#entries[slot] as KvEntry
  }

  client(slot: number): number {
    return this.#clientIds[this.#clients[slot] as number] as number
  }

  clock(slot: number): number {
    return this.#clocks[slot] as number
  }

  /** True when `slot` holds element `clock` of `client`. */
  is(slot: number, client: number, clock: number): boolean {
    return this.#clocks[slot] === clock && this.client(slot) === client
  }
}
