import type * as Y from 'yjs'
import { rangesCover } from './compare.js'

/** The last index in `lo..hi` of sorted `values` whose value is at or below `x`, or -1. */
const floorIndex = (values: Float64Array, lo: number, hi: number, x: number): number => {
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    if ((values[mid] as number) <= x) {
      found = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  return found
}

/** The index of `x` in sorted `values`, or -1. */
const indexOf = (values: Float64Array, x: number): number => {
  const i = floorIndex(values, 0, values.length - 1, x)
  return i >= 0 && values[i] === x ? i : -1
}

/** The keys of `map`, sorted, in a typed array (its numeric sort needs no comparator). */
const sortedKeys = (map: Map<number, unknown>): Float64Array => Float64Array.from(map.keys()).sort()

/**
 * A snapshot (state vector and delete set) kept from one anti-entropy round to the next, in
 * typed arrays: per client 16 bytes of state vector and, for a client with one deleted range,
 * 28 bytes of delete set. A `Y.Snapshot` held a Map entry, a heap number for the half of the
 * Yjs client ids past the small integers, an array and an object per range: 300 to 400 bytes
 * per client, and every light peer that ever wrote stays a client for good. A node keeps one
 * per room (its last round) and one per room and link (what the peer last reported), so that
 * cost was paid three times per client on a node with two links.
 */
export class CompactSnapshot {
  /** Clients of the state vector, sorted, and their clocks. */
  #clients: Float64Array
  #clocks: Float64Array
  /** Clients with deletions, sorted; client `k`'s ranges are `#from[k]` up to `#from[k + 1]`. */
  #dsClients: Float64Array
  #from: Uint32Array
  /** Deleted ranges, sorted and coalesced per client: `[#starts[i], #ends[i])`. */
  #starts: Float64Array
  #ends: Float64Array

  private constructor(snapshot: Y.Snapshot) {
    this.#clients = sortedKeys(snapshot.sv)
    this.#clocks = this.#clients.map((client) => snapshot.sv.get(client) ?? 0)
    const deletes = snapshot.ds.clients
    const dsClients = sortedKeys(deletes)
    const from = new Uint32Array(dsClients.length + 1)
    const starts: number[] = []
    const ends: number[] = []
    dsClients.forEach((client, k) => {
      // A peer's snapshot need not be sorted or coalesced; this node's own always is.
      const items = [...(deletes.get(client) ?? [])].filter((item) => item.len > 0).sort((a, b) => a.clock - b.clock)
      const first = starts.length
      for (const { clock, len } of items) {
        const last = ends.length - 1
        if (last >= first && clock <= (ends[last] as number)) ends[last] = Math.max(ends[last] as number, clock + len)
        else {
          starts.push(clock)
          ends.push(clock + len)
        }
      }
      from[k + 1] = starts.length
    })
    this.#dsClients = dsClients
    this.#from = from
    this.#starts = Float64Array.from(starts)
    this.#ends = Float64Array.from(ends)
  }

  /** The compact form of `snapshot`, which it does not keep. */
  static of(snapshot: Y.Snapshot): CompactSnapshot {
    return new CompactSnapshot(snapshot)
  }

  /** The clock of `client` in the state vector (0 when absent). */
  clockOf(client: number): number {
    const i = indexOf(this.#clients, client)
    return i < 0 ? 0 : (this.#clocks[i] as number)
  }

  /** True when this snapshot holds every insertion and deletion of `other`. */
  contains(other: Y.Snapshot): boolean {
    for (const [client, clock] of other.sv) if (this.clockOf(client) < clock) return false
    for (const [client, items] of other.ds.clients) {
      const k = indexOf(this.#dsClients, client)
      const lo = k < 0 ? 0 : (this.#from[k] as number)
      const hi = k < 0 ? -1 : (this.#from[k + 1] as number) - 1
      for (const { clock, len } of items) {
        if (len === 0) continue
        const i = floorIndex(this.#starts, lo, hi, clock)
        if (i < 0 || (this.#ends[i] as number) < clock + len) return false
      }
    }
    return true
  }

  /** True when `other` holds every insertion and deletion of this snapshot. */
  within(other: Y.Snapshot): boolean {
    for (let i = 0; i < this.#clients.length; i++) {
      if ((other.sv.get(this.#clients[i] as number) ?? 0) < (this.#clocks[i] as number)) return false
    }
    for (let k = 0; k < this.#dsClients.length; k++) {
      const mine: Array<{ clock: number; len: number }> = []
      for (let i = this.#from[k] as number; i < (this.#from[k + 1] as number); i++) {
        const clock = this.#starts[i] as number
        mine.push({ clock, len: (this.#ends[i] as number) - clock })
      }
      if (!rangesCover(other.ds.clients.get(this.#dsClients[k] as number) ?? [], mine)) return false
    }
    return true
  }
}
