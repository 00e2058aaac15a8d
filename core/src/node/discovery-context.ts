import type { Logger } from '../common/index.js'
import type { DiscoveryContext, MemberReactions } from '../membership/index.js'

/** What the context reads of the node. */
interface DiscoveringNode {
  readonly id: string
  readonly url: string
  readonly logger: Logger
}

/**
 * What a discovery sees of the node: addresses it finds are remembered and dialed within
 * `maxPeers` (MemberReactions.offer); `join` is the old name of `offer`.
 */
export const discoveryContext = (
  core: DiscoveringNode,
  reactions: Pick<MemberReactions, 'offer'>,
): DiscoveryContext => {
  const offer = (urls: readonly string[]) => reactions.offer(urls)
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the old name still has to work
  return { id: core.id, url: () => core.url, offer, join: offer, logger: core.logger }
}
