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

/** What a discovery sees of the node: peers it finds are remembered and joined without waiting. */
export const discoveryContext = (core: DiscoveringNode, links: PeerLinks): DiscoveryContext => ({
  id: core.id,
  url: () => core.url,
  join: (urls: string[]) => {
    if (core.closed) return
    links.discovered(urls)
    core.join(urls, { wait: false }).catch(() => {})
  },
  logger: core.logger,
})
