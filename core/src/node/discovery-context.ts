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

/**
 * What a discovery sees of the node: of the peers it finds, ones not dialed yet are joined
 * without waiting, in random order, while the node has fewer than `maxPeers` links and dials
 * (at least one, so a discovery still finds a cluster when `maxPeers` is 0); the others are
 * left to gossip. A DNS name with hundreds of addresses no longer opens hundreds of links.
 */
export const discoveryContext = (
  core: DiscoveringNode,
  links: PeerLinks,
  maxPeers: number,
  random: () => number = Math.random,
): DiscoveryContext => ({
  id: core.id,
  url: () => core.url,
  join: (urls: string[]) => {
    if (core.closed) return
    const fresh = [...new Set(urls.flatMap((url) => normalized(url)))].filter((url) => !links.hasDialer(url))
    let budget = Math.max(1, maxPeers) - links.size - links.dialing()
    const chosen: string[] = []
    while (budget-- > 0 && fresh.length > 0) chosen.push(...fresh.splice(Math.floor(random() * fresh.length), 1))
    if (chosen.length === 0) return
    links.discovered(chosen)
    core.join(chosen, { wait: false }).catch(() => {})
  },
  logger: core.logger,
})

/** The URL as the link set keys its dialers, or nothing when it does not parse (join refuses it and says why). */
const normalized = (url: string): string[] => {
  try {
    return [new URL(url).toString()]
  } catch {
    return [url]
  }
}
