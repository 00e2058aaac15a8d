import type { Metrics } from '../common/index.js'
import type { LightPeers } from '../light-peers/index.js'
import type { NodeView } from '../observability/index.js'
import type { CommitLog, Conflicts, ConflictPolicy, PeerLinks, Rooms } from '../replication/index.js'
import type { Member } from '../membership/index.js'
import type { Router } from '../routing/index.js'
import type { NodePersistence } from '../persistence/index.js'

/** The parts of a node that status and metrics read. */
export interface ViewParts {
  readonly node: {
    readonly id: string
    readonly name: string
    readonly url: string
    readonly onConflict: ConflictPolicy
    readonly startedAt: number
    members(): Member[]
  }
  readonly counters: Metrics
  readonly log: CommitLog
  rooms(): Rooms
  links(): PeerLinks
  conflicts(): Conflicts
  lights(): LightPeers
  router(): Router
  persistence(): NodePersistence | undefined
}

/** A read-only view of a node for observability (status, metrics). */
export const makeNodeView = (parts: ViewParts): NodeView => {
  const { node } = parts
  return {
    get id() {
      return node.id
    },
    get name() {
      return node.name
    },
    get url() {
      return node.url
    },
    get onConflict() {
      return node.onConflict
    },
    get startedAt() {
      return node.startedAt
    },
    counters: parts.counters,
    get commits() {
      return parts.log.total
    },
    rooms: () => parts.rooms().values(),
    links: () => parts.links().values(),
    dialers: () => parts.links().dialers(),
    get lightPeers() {
      return parts.lights().size
    },
    conflicts: () => parts.conflicts().list(),
    members: () => node.members(),
    get actors() {
      return [...parts.router().actors.counts().values()].reduce((a, b) => a + b, 0)
    },
    persistence: () => parts.persistence()?.status(),
    routing: () => {
      const router = parts.router()
      const actors = router.actors.counts()
      const declared = node.members()[0]?.capabilities ?? []
      return [...new Set([...declared, ...actors.keys()])].map((capability) => ({
        capability,
        shards: router.placement.owned(capability, node.id),
        actors: actors.get(capability) ?? 0,
      }))
    },
  }
}
