import type { ConcurrentWrite, KvIndex, LostRace, Slot } from '../store/index.js'

/**
 * A race that a relay resolved while this node was apart reaches this node, at its resync
 * with the relay, as the winner's entry and the deletion of this node's own, in one state: a
 * deletion does not say who made it, and the winner's position cannot always tell whether its
 * writer had seen this node's entry (array-order.ts). The relay names the races it resolved
 * that this node has not seen (`lost` in the `diff` message, version 6), from its own index's
 * memory of entries that lost to concurrent ones (store/superseded.ts).
 *
 * Before the peer's state is applied: this node's live entries that those races name as losers.
 */
export const ownLosers = (kv: KvIndex, lost: readonly LostRace[], clientId: number): Slot[] => {
  const losers: Slot[] = []
  for (const { key, loser } of lost) {
    if (loser.client !== clientId || kv.ref(key) !== `${loser.client}:${loser.clock}`) continue
    const entry = kv.entry(key)
    if (entry) losers.push({ ...loser, entry })
  }
  return losers
}

/** After the state is applied: each of `losers` that another node's write replaced, as a concurrent pair with it. */
export const racesLost = (kv: KvIndex, losers: readonly Slot[]): ConcurrentWrite[] => {
  const writes: ConcurrentWrite[] = []
  for (const own of losers) {
    const ref = kv.ref(own.entry.key)
    const entry = kv.entry(own.entry.key)
    if (ref === undefined || entry === undefined) continue
    const [client, clock] = ref.split(':').map(Number) as [number, number]
    if (client !== own.client) writes.push({ key: own.entry.key, own, other: { client, clock, entry } })
  }
  return writes
}
