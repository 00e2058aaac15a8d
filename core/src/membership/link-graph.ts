/** A peer link as membership sees it (a PeerLink is one): whose it is, whether it is open, when it last brought a frame. */
export interface LinkLiveness {
  readonly peerId: string | undefined
  readonly isOpen: boolean
  readonly lastReceivedAt: number
  /** This end's part: `acceptor` when the peer dialed (it answers the peer's beats rather than beating). */
  readonly role?: 'dialer' | 'acceptor'
}

/** Sorted ids of the open links that brought a frame since `since`, and of those in `keep` still open. */
export const liveLinks = (links: Iterable<LinkLiveness>, since: number, keep: readonly string[] = []): string[] => {
  const live: string[] = []
  for (const { peerId, isOpen, lastReceivedAt } of links) {
    if (peerId !== undefined && isOpen && (lastReceivedAt >= since || keep.includes(peerId))) live.push(peerId)
  }
  return live.sort()
}

/**
 * Most work one walk does, in ids looked at: a real mesh needs a few million at most (10,000
 * members listing 16 links each); crafted records listing far more are cut short.
 */
export const MAX_WALK_WORK = 4_000_000

/**
 * The members `self` reaches over links that both ends list (`linksOf` gives a member's listed
 * links, undefined for one that is not to be walked through: unknown, or leaving), in the order
 * it reaches them. `self`'s own links are taken as they are: it checked them itself. A walk
 * stops after `maxWork` ids looked at.
 */
export const reachable = (
  self: string,
  links: readonly string[],
  linksOf: (id: string) => readonly string[] | undefined,
  maxWork = MAX_WALK_WORK,
): string[] => {
  let budget = maxWork
  const reached = new Set<string>([self])
  const order: string[] = []
  const queue: Array<{ from: string; links: readonly string[] }> = [{ from: self, links }]
  for (let i = 0; i < queue.length; i++) {
    const { from, links: out } = queue[i] as { from: string; links: readonly string[] }
    for (const id of out) {
      if (reached.has(id)) continue
      const theirs = linksOf(id)
      if (theirs === undefined) continue
      budget -= 1 + theirs.length
      if (budget < 0) return order
      // A link counts when both ends list it: a dead member's last record still lists its peers.
      if (from !== self && !theirs.includes(from)) continue
      reached.add(id)
      order.push(id)
      queue.push({ from: id, links: theirs })
    }
  }
  return order
}
