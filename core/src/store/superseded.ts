import * as Y from 'yjs'
import { isRightOf } from './array-order.js'
import type { Slot } from './kv-entry.js'

/** Most keys whose superseded entries are remembered (the most recent ones). */
const MAX_KEYS = 10_000
/** Most superseded entries remembered per key. */
const PER_KEY = 4
/** Most lost races an honest peer names in one state: what its index remembers at most. */
export const MAX_LOST_RACES = MAX_KEYS * PER_KEY

/** An entry that lost to a concurrent one when histories merged here, and the entry it lost to. */
export interface SupersededSlot extends Slot {
  by: { client: number; clock: number }
  /** False when the duplicate was no race (a light peer's append): never named as a lost race. */
  race?: boolean
}

/** A race this node resolved that a peer has not seen: the peer holds the loser live and lacks the winner. */
export interface LostRace {
  key: string
  loser: { client: number; clock: number }
  winner: { client: number; clock: number }
}

/**
 * Per key, the recent entries that lost to a concurrent entry in this node's index: what
 * `accept` write-backs yield to, and the races a peer that was apart has not seen (the relay
 * deleted the loser, and a deletion says nothing of who made it; see room-sync's lost races).
 * Bounded, in memory.
 */
export class Superseded {
  #keys = new Map<string, SupersededSlot[]>()

  add(slot: SupersededSlot, race = true): void {
    if (!race) slot.race = false
    const key = slot.entry.key
    const list = this.#keys.get(key) ?? []
    list.push(slot)
    this.#keys.delete(key)
    this.#keys.set(key, list.slice(-PER_KEY))
    if (this.#keys.size > MAX_KEYS) {
      const oldest = this.#keys.keys().next().value
      if (oldest !== undefined) this.#keys.delete(oldest)
    }
  }

  /**
   * Of the entries of `key` that lost a merge and pass `eligible`, the rightmost in `doc`, if
   * any: the entry whose value the key would hold without the entries that do not pass.
   */
  rightmost(doc: Y.Doc, key: string, eligible: (slot: { client: number; clock: number }) => boolean): Slot | undefined {
    let best: Slot | undefined
    for (const slot of this.#keys.get(key) ?? []) {
      if (!eligible(slot)) continue
      if (!best) best = slot
      else {
        const item = Y.getItem(doc.store, Y.createID(slot.client, slot.clock))
        if (item instanceof Y.Item && isRightOf(item, slot.clock - item.id.clock, best)) best = slot
      }
    }
    return best
  }

  /** The races resolved here whose loser `remote` holds undeleted and whose winner it lacks. */
  unseenBy(remote: Y.Snapshot): LostRace[] {
    const held = (id: { client: number; clock: number }) => id.clock < (remote.sv.get(id.client) ?? 0)
    const races: LostRace[] = []
    for (const [key, list] of this.#keys) {
      for (const { client, clock, by, race } of list) {
        if (race === false) continue
        const loser = { client, clock }
        if (held(loser) && !held(by) && !Y.isDeleted(remote.ds, Y.createID(client, clock)))
          races.push({ key, loser, winner: by })
      }
    }
    return races
  }
}
