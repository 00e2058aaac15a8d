import type { Logger } from '../common/index.js'
import type { DiscoveryContext } from '../membership/index.js'
import type { PeerLinks } from '../replication/index.js'

/** What the context reads of the node. */
interface DiscoveringNode {
  readonly id: string
  readonly url: string
  readonly closed: boolean
  readonly logger: Logger
  join(urls: readonly string[], options: { wait?: boolean }): Promise<void>
}

/** How the context limits what it dials. */
export interface DiscoveryBudget {
  /** See `MeshNodeOptions.maxPeers`. */
  readonly maxPeers: number
  /** How many members this node holds alive or suspect, itself included. */
  members(): number
}

/**
 * What a discovery sees of the node: of the peers it finds, those not dialed yet are dialed
 * (remembered as discovered, joined without waiting) while this node has fewer than `maxPeers`
 * links and dials, in random order, and one while it has none, so a node with `maxPeers` 0 still
 * gets in. The rest are learned through gossip: a DNS name of a large fleet resolves to every
 * pod, and dialing them all made each node's links, and its heartbeat traffic, grow with the fleet.
 * Past the budget, one more address per round is dialed while the discovery finds more addresses
 * than this node knows live members: after a partition long enough for each side to forget the
 * other, that is the bridge back. (Addresses are counted, not matched against members' URLs: a
 * member may advertise a name where the discovery finds its address.)
 */
export const discoveryContext = (
  core: DiscoveringNode,
  links: PeerLinks,
  budget: DiscoveryBudget,
): DiscoveryContext => ({
  id: core.id,
  url: () => core.url,
  join: (urls: string[]) => {
    if (core.closed) return
    const fresh = [...new Set(urls)].filter((url) => url !== core.url && !links.hasDialer(url))
    const held = links.size + links.dialing()
    const room = held === 0 ? Math.max(1, budget.maxPeers) : budget.maxPeers - held
    const take = (from: string[]) => from.splice(Math.floor(Math.random() * from.length), 1)
    const picked: string[] = []
    while (picked.length < room && fresh.length > 0) picked.push(...take(fresh))
    // Counted with this node on both sides: a DNS name of the fleet resolves to this pod too.
    if (picked.length === 0 && fresh.length > 0 && budget.members() < new Set(urls).size) picked.push(...take(fresh))
    if (picked.length === 0) return
    links.discovered(picked)
    core.join(picked, { wait: false }).catch(() => {})
  },
  logger: core.logger,
})
