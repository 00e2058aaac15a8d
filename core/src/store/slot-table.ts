import type { KvEntry } from './kv-entry.js'

const INITIAL_CAPACITY = 64

/** 2^32: an id packs its client's number above the clock's 32 bits. */
const CLOCKS = 2 ** 32

/** Client numbers that still pack into a double's 53 exact bits with a 32-bit clock. */
const MAX_PACKED_CLIENTS = 2 ** 21

/**
 * The live entries of a key/value index and the ids of their elements, in parallel arrays
 * indexed by a slot number: an entry reference and a packed id (a small number standing for
 * the client, and the clock) per slot, with no object per key. An object per key (`{ client,
 * clock, entry }`, plus a heap number for the half of Yjs client ids that do not fit a small
 * integer) cost a 1M-key replica about 60 bytes per key; a slot costs 16 (the ids, 8, in a
 * typed array). Freed slots are reused.
 */
export class SlotTable {
  #entries: Array<KvEntry | undefined> = []
  /** Per slot `client number × 2^32 + clock`; -1 for an id kept in `#wide`; for a free slot, the next free one. */
  #ids = new Float64Array(INITIAL_CAPACITY)
  /** Ids that do not pack (a clock past 2^32, or more clients than ever seen in practice). */
  #wide = new Map<number, { client: number; clock: number }>()
  #clientIds: number[] = []
  #clientNumbers = new Map<number, number>()
  /** The client of the latest `put` and its number: a cold join puts a million entries of a few clients in a row. */
  #lastClient = -1
  #lastNumber = -1
  /** Slots handed out so far; slots past it were never used. */
  #used = 0
  #free = -1

  /** Makes room for `n` more slots at once (a cold join adds a million). */
  reserve(n: number): void {
    const need = this.#used + n
    if (need <= this.#ids.length) return
    const ids = new Float64Array(Math.max(need, Math.ceil(this.#ids.length * 1.5)))
    ids.set(this.#ids)
    this.#ids = ids
    // Grown once here rather than push by push: each copy of a million-element array is
    // garbage the collector has to trace.
    this.#entries.length = ids.length
  }

  /** A slot for `entry`, element `clock` of `client`. */
  add(entry: KvEntry, client: number, clock: number): number {
    let slot = this.#free
    if (slot >= 0) this.#free = this.#ids[slot] ?? -1
    else {
      if (this.#used === this.#ids.length) this.reserve(1)
      slot = this.#used++
    }
    this.put(slot, entry, client, clock)
    return slot
  }

  /** Points `slot` at another entry (a key overwritten keeps its slot). */
  put(slot: number, entry: KvEntry, client: number, clock: number): void {
    let number = client === this.#lastClient ? this.#lastNumber : this.#clientNumbers.get(client)
    if (number === undefined) {
      number = this.#clientIds.length
      this.#clientIds.push(client)
      this.#clientNumbers.set(client, number)
    }
    this.#lastClient = client
    this.#lastNumber = number
    this.#entries[slot] = entry
    if (this.#wide.size > 0) this.#wide.delete(slot)
    if (clock < CLOCKS && number < MAX_PACKED_CLIENTS) this.#ids[slot] = number * CLOCKS + clock
    else {
      this.#ids[slot] = -1
      this.#wide.set(slot, { client, clock })
    }
  }

  /** Frees `slot` for reuse. */
  release(slot: number): void {
    this.#entries[slot] = undefined
    if (this.#wide.size > 0) this.#wide.delete(slot)
    this.#ids[slot] = this.#free
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
    const id = this.#ids[slot] as number
    if (id < 0) return (this.#wide.get(slot) as { client: number }).client
    return this.#clientIds[Math.floor(id / CLOCKS)] as number
  }

  clock(slot: number): number {
    const id = this.#ids[slot] as number
    if (id < 0) return (this.#wide.get(slot) as { clock: number }).clock
    return id % CLOCKS
  }

  /** True when `slot` holds element `clock` of `client`. */
  is(slot: number, client: number, clock: number): boolean {
    return this.clock(slot) === clock && this.client(slot) === client
  }
}
