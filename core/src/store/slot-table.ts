import type { KvEntry } from './kv-entry.js'

const INITIAL_CAPACITY = 64

/** Yjs client ids and clocks up to this fit a Uint32Array; larger ones go to `#wide`. */
const MAX_U32 = 0xffffffff

/** End of the free list. */
const NONE = MAX_U32

/**
 * The live entries of a key/value index and the ids of their elements, in parallel arrays
 * indexed by a slot number: an entry reference, the client and the clock per slot, with no
 * object per key. An object per key (`{ client, clock, entry }`, plus a heap number for the
 * half of Yjs client ids that do not fit a small integer) cost a 1M-key replica about 60 bytes
 * per key; a slot costs 16 (the ids, 8, in two typed arrays). Freed slots are reused.
 *
 * The client id itself is stored, not a number standing for it: a table of such numbers grew
 * by a Map entry and an array element (about 90 bytes) per Yjs client ever seen, for good,
 * and every light peer that writes is a new client.
 */
export class SlotTable {
  #entries: Array<KvEntry | undefined> = []
  /** Per slot, the client of its element; for a free slot, the next free one (or NONE). */
  #clients = new Uint32Array(INITIAL_CAPACITY)
  #clocks = new Uint32Array(INITIAL_CAPACITY)
  /** Ids that do not fit 32 bits (a clock past 2^32, or a client id no Yjs client makes). */
  #wide = new Map<number, { client: number; clock: number }>()
  /** Slots handed out so far; slots past it were never used. */
  #used = 0
  #free = NONE

  /** Makes room for `n` more slots at once (a cold join adds a million). */
  reserve(n: number): void {
    const need = this.#used + n
    if (need <= this.#clients.length) return
    const size = Math.max(need, Math.ceil(this.#clients.length * 1.5))
    const clients = new Uint32Array(size)
    clients.set(this.#clients)
    this.#clients = clients
    const clocks = new Uint32Array(size)
    clocks.set(this.#clocks)
    this.#clocks = clocks
    // Grown once here rather than push by push: each copy of a million-element array is
    // garbage the collector has to trace.
    this.#entries.length = size
  }

  /** A slot for `entry`, element `clock` of `client`. */
  add(entry: KvEntry, client: number, clock: number): number {
    let slot = this.#free
    if (slot !== NONE) this.#free = this.#clients[slot] as number
    else {
      if (this.#used === this.#clients.length) this.reserve(1)
      slot = this.#used++
    }
    this.put(slot, entry, client, clock)
    return slot
  }

  /** Points `slot` at another entry (a key overwritten keeps its slot). */
  put(slot: number, entry: KvEntry, client: number, clock: number): void {
    this.#entries[slot] = entry
    if (this.#wide.size > 0) this.#wide.delete(slot)
    if (client <= MAX_U32 && clock <= MAX_U32) {
      this.#clients[slot] = client
      this.#clocks[slot] = clock
    } else this.#wide.set(slot, { client, clock })
  }

  /** Frees `slot` for reuse. */
  release(slot: number): void {
    this.#entries[slot] = undefined
    if (this.#wide.size > 0) this.#wide.delete(slot)
    this.#clients[slot] = this.#free
    this.#free = slot
  }

  /** Every slot in use, in slot order. */
  *live(): IterableIterator<number> {
    for (let slot = 0; slot < this.#used; slot++) if (this.#entries[slot] !== undefined) yield slot
  }

  // The readers below are only called with slots the index holds: live ones.

  entry(slot: number): KvEntry {
    return this.#entries[slot] as KvEntry
  }

  client(slot: number): number {
    const wide = this.#wide.size > 0 ? this.#wide.get(slot) : undefined
    return wide ? wide.client : (this.#clients[slot] as number)
  }

  clock(slot: number): number {
    const wide = this.#wide.size > 0 ? this.#wide.get(slot) : undefined
    return wide ? wide.clock : (this.#clocks[slot] as number)
  }

  /** True when `slot` holds element `clock` of `client`. */
  is(slot: number, client: number, clock: number): boolean {
    return this.clock(slot) === clock && this.client(slot) === client
  }
}
