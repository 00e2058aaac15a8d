/** Longest probe sequence in the table; a key that would need more goes to the overflow map. */
const MAX_PROBES = 32

const EMPTY = -1

/** 32-bit FNV-1a over UTF-16 code units from a per-table seed, then murmur3's final mix to spread sequential keys. */
export const hashOf = (key: string, seed: number): number => {
  let h = seed
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/**
 * Key → slot number for the index, in an open-addressing table (linear probing) of slot
 * numbers in an `Int32Array`: the keys themselves stay in the entries, read back through
 * `keyOf`. A `Map` of a million keys cost a cold join more than half a second of rehashing as
 * it doubled, its garbage collections, and about 30 bytes of heap per key; the table costs 8 to
 * 16 bytes per key outside the heap (a slot number and a hash per position), sized once from
 * the number of elements a transaction adds. The hash is seeded per table, and a key whose
 * probe sequence would pass MAX_PROBES (keys crafted to collide) is kept in an overflow `Map`
 * instead, so no operation costs more than MAX_PROBES steps and a map look-up.
 */
export class KeyTable {
  #keyOf: (slot: number) => string
  #seed: number
  /**
   * Per position, its slot (EMPTY when free) and then the hash of the slot's key, side by side:
   * a probe reads both from one cache line (a cold join probes a million random positions).
   * The hash spares a probe that meets another key reading that key from its entry.
   */
  #cells = new Int32Array(32).fill(EMPTY)
  /** The number of positions minus one (a power of two minus one). */
  #mask = 15
  /** The last key hashed and its hash: a look-up is usually followed by an add of the same key. */
  #lastKey: string | undefined
  #lastHash = 0
  /** Keys in `#cells`. */
  #count = 0
  #overflow = new Map<string, number>()

  /** `keyOf` gives the key of a slot that the table holds; `seed` (random by default) seeds the hash. */
  constructor(options: { keyOf: (slot: number) => string; seed?: number }) {
    this.#keyOf = options.keyOf
    this.#seed = options.seed ?? (Math.random() * 2 ** 32) >>> 0
  }

  /** Number of keys. */
  get size(): number {
    return this.#count + this.#overflow.size
  }

  /** Makes room for `n` more keys at once (a cold join adds a million). */
  reserve(n: number): void {
    let capacity = this.#mask + 1
    while ((this.#count + n) * 2 > capacity) capacity *= 2
    if (capacity > this.#mask + 1) this.#rehash(capacity)
  }

  /** The slot of `key`. */
  get(key: string): number | undefined {
    const cells = this.#cells
    const mask = this.#mask
    const hash = this.#hash(key)
    let at = hash & mask
    for (let probe = 0; probe < MAX_PROBES; probe++, at = (at + 1) & mask) {
      const slot = cells[2 * at] as number
      if (slot === EMPTY) break
      if (cells[2 * at + 1] === hash && this.#keyOf(slot) === key) return slot
    }
    return this.#overflow.size > 0 ? this.#overflow.get(key) : undefined
  }

  /** Adds `key`, which the table does not hold, in `slot`. */
  add(key: string, slot: number): void {
    if ((this.#count + 1) * 2 > this.#mask + 1) this.#rehash((this.#mask + 1) * 2)
    if (!this.#place(this.#hash(key), slot)) this.#overflow.set(key, slot)
  }

  #hash(key: string): number {
    if (key !== this.#lastKey) {
      this.#lastKey = key
      this.#lastHash = hashOf(key, this.#seed)
    }
    return this.#lastHash
  }

  /** Removes `key`; true when the table held it. */
  delete(key: string): boolean {
    const cells = this.#cells
    const mask = this.#mask
    const hash = this.#hash(key)
    let at = hash & mask
    for (let probe = 0; probe < MAX_PROBES; probe++, at = (at + 1) & mask) {
      const slot = cells[2 * at] as number
      if (slot === EMPTY) break
      if (cells[2 * at + 1] !== hash || this.#keyOf(slot) !== key) continue
      this.#count--
      // Backward shift: pull later keys of the cluster into the hole when that brings them no
      // further from their home position, so every probe sequence stays unbroken.
      let hole = at
      for (let next = (at + 1) & mask; ; next = (next + 1) & mask) {
        const moved = cells[2 * next] as number
        if (moved === EMPTY) break
        const home = (cells[2 * next + 1] as number) & mask
        if (((next - home) & mask) >= ((next - hole) & mask)) {
          cells[2 * hole] = moved
          cells[2 * hole + 1] = cells[2 * next + 1] as number
          hole = next
        }
      }
      cells[2 * hole] = EMPTY
      return true
    }
    return this.#overflow.delete(key)
  }

  /** Puts `slot`, whose key hashes to `hash`, within MAX_PROBES of its home position; false if it does not fit. */
  #place(hash: number, slot: number): boolean {
    const cells = this.#cells
    const mask = this.#mask
    let at = hash & mask
    for (let probe = 0; probe < MAX_PROBES; probe++, at = (at + 1) & mask) {
      if (cells[2 * at] !== EMPTY) continue
      cells[2 * at] = slot
      cells[2 * at + 1] = hash
      this.#count++
      return true
    }
    return false
  }

  #rehash(capacity: number): void {
    const old = this.#cells
    this.#cells = new Int32Array(2 * capacity).fill(EMPTY)
    this.#mask = capacity - 1
    this.#count = 0
    for (let at = 0; at < old.length; at += 2) {
      const slot = old[at] as number
      if (slot !== EMPTY && !this.#place(old[at + 1] as number, slot)) this.#overflow.set(this.#keyOf(slot), slot)
    }
  }
}
