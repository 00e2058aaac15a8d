import type { ConcurrentWrite, KvIndex, LostRace, Slot } from '../store/index.js'

/**
 * A race that a relay resolved while this node was apart reaches this node, at its resync
 * with the relay, as the winner's entry and the deletion of the loser's, in one state: a
 * deletion does not say who made it, and the winner's position cannot always tell whether its
 * writer had seen the loser's entry (array-order.ts). The relay names the races it resolved
 * that this node has not seen (`lost` in the `diff` message, version 6), from its own index's
 * memory of entries that lost to concurrent ones (store/superseded.ts).
 */

/** A live entry of this node that a peer's state is about to replace, as the loser of a race. */
export interface HeldLoser {
  slot: Slot
  winner: { client: number; clock: number }
}

/** Before the peer's state is applied: the live entries here that the races it names lost. */
export const heldLosers = (kv: KvIndex, lost: readonly LostRace[]): HeldLoser[] => {
  const held: HeldLoser[] = []
  for (const { key, loser, winner } of lost) {
    if (kv.ref(key) !== `${loser.client}:${loser.clock}`) continue
    const entry = kv.entry(key)
    if (entry) held.push({ slot: { ...loser, entry }, winner })
  }
  return held
}

/**
 * After the state is applied: each held loser that another entry replaced is remembered as a
 * lost race, so this node names it in turn to peers that hold the loser (a race resolved two
 * hops away); those this node wrote (`clientId`) come back as concurrent pairs to report.
 */
export const racesLost = (kv: KvIndex, held: readonly HeldLoser[], clientId: number): ConcurrentWrite[] => {
  const writes: ConcurrentWrite[] = []
  for (const { slot, winner } of held) {
    const ref = kv.ref(slot.entry.key)
    const entry = kv.entry(slot.entry.key)
    if (ref === undefined || entry === undefined) continue
    const [client, clock] = ref.split(':').map(Number) as [number, number]
    if (client === slot.client) continue
    kv.rememberLostRace(slot, winner)
    if (slot.client === clientId) writes.push({ key: slot.entry.key, own: slot, other: { client, clock, entry } })
  }
  return writes
}
