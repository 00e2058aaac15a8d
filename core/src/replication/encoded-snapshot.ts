import * as decoding from 'lib0/decoding'
import * as Y from 'yjs'
import { rangesCover } from './compare.js'

type Range = { clock: number; len: number }

/** Reads `n` delete ranges of one client (Yjs's V1 delete set: varUint clock, varUint len). */
const readRanges = (d: decoding.Decoder, n: number): Range[] => {
  const ranges: Range[] = []
  for (let i = 0; i < n; i++) ranges.push({ clock: decoding.readVarUint(d), len: decoding.readVarUint(d) })
  return ranges
}

const skipRanges = (d: decoding.Decoder, n: number): void => {
  for (let i = 0; i < 2 * n; i++) decoding.readVarUint(d)
}

/** True when `ranges` has a range of some length (a range of length 0 deletes nothing). */
const deletesSome = (ranges: readonly Range[]): boolean => ranges.some((range) => range.len > 0)

/**
 * A snapshot (state vector and delete set) kept from one anti-entropy round to the next as the
 * bytes `Y.encodeSnapshot` gives, about 16 bytes per client, and compared by reading them in
 * one pass. A decoded `Y.Snapshot` held a Map entry, a heap number for the half of the Yjs
 * client ids past the small integers, an array and an object per range: 300 to 400 bytes per
 * client, and every light peer that ever wrote stays a client for good. A node keeps one per
 * room (its last round) and one per room and link (what the peer last reported): with two
 * links that cost was paid three times per client, more than Yjs's own record of the client.
 *
 * The bytes are Yjs's V1 snapshot encoding, which `Y.encodeSnapshot` writes with each client
 * once: the delete set (varUint count; per client: varUint client, varUint count, then
 * varUint clock and varUint len per range), then the state vector (varUint count; per client:
 * varUint client, varUint clock).
 */
export class EncodedSnapshot {
  #bytes: Uint8Array

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes
  }

  /** `snapshot`, encoded: a copy of what it holds (it keeps no reference to it). */
  static of(snapshot: Y.Snapshot): EncodedSnapshot {
    return new EncodedSnapshot(Y.encodeSnapshot(snapshot))
  }

  /** The snapshot as `Y.encodeSnapshot` encodes it (do not mutate). */
  get bytes(): Uint8Array {
    return this.#bytes
  }

  /** True when this snapshot holds every insertion and deletion of `other`. */
  contains(other: Y.Snapshot): boolean {
    const d = decoding.createDecoder(this.#bytes)
    let needed = 0
    for (const ranges of other.ds.clients.values()) if (deletesSome(ranges)) needed++
    let covered = 0
    for (let n = decoding.readVarUint(d); n > 0; n--) {
      const client = decoding.readVarUint(d)
      const count = decoding.readVarUint(d)
      const theirs = other.ds.clients.get(client)
      if (!theirs || !deletesSome(theirs)) {
        skipRanges(d, count)
        continue
      }
      if (!rangesCover(readRanges(d, count), theirs)) return false
      covered++
    }
    if (covered < needed) return false
    needed = 0
    for (const clock of other.sv.values()) if (clock > 0) needed++
    covered = 0
    for (let n = decoding.readVarUint(d); n > 0; n--) {
      const client = decoding.readVarUint(d)
      const clock = decoding.readVarUint(d)
      const wanted = other.sv.get(client) ?? 0
      if (wanted === 0) continue
      if (clock < wanted) return false
      covered++
    }
    return covered === needed
  }

  /** True when `other` holds every insertion and deletion of this snapshot. */
  within(other: Y.Snapshot): boolean {
    const d = decoding.createDecoder(this.#bytes)
    for (let n = decoding.readVarUint(d); n > 0; n--) {
      const client = decoding.readVarUint(d)
      const mine = readRanges(d, decoding.readVarUint(d))
      if (!rangesCover(other.ds.clients.get(client) ?? [], mine)) return false
    }
    for (let n = decoding.readVarUint(d); n > 0; n--) {
      const client = decoding.readVarUint(d)
      if ((other.sv.get(client) ?? 0) < decoding.readVarUint(d)) return false
    }
    return true
  }
}
