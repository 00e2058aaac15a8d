import type { Metrics } from '../common/index.js'
import type { MemberReactions, MembershipHooks } from '../membership/index.js'
import { encodePeer, type PeerLinks } from '../replication/index.js'
import type { Router } from '../routing/index.js'

/** The parts of a node its membership talks to. */
export interface MembershipParts {
  readonly links: PeerLinks
  readonly counters: Metrics
  readonly reactions: MemberReactions
  readonly router: Router
  guard(where: string, work: () => void): void
  tick(now: number): void
}

/**
 * What the membership registry sees of its node: SWIM messages and tables go out on the peer
 * links (their bytes counted as membership bytes), member changes go to the reactions and
 * routing, and every round runs the node's periodic work.
 */
export const membershipHooks = (parts: MembershipParts): MembershipHooks => {
  const sendOn = (peer: string, json: string, encode: (json: string) => Uint8Array<ArrayBuffer>) => {
    const link = parts.links.get(peer)
    if (!link) return
    parts.counters.membershipBytesOut += json.length
    link.sendFrame(encode(json))
  }
  return {
    send: (peer, json) => sendOn(peer, json, encodePeer.swim),
    sendTable: (peer, json) => sendOn(peer, json, encodePeer.gossip),
    peers: () => [...parts.links.values()].flatMap((link) => (link.peerId === undefined ? [] : [link.peerId])),
    linked: (id) => parts.links.has(id),
    changed: (member, previous) => parts.guard('membership', () => parts.reactions.changed(member, previous)),
    tick: (now) =>
      parts.guard('heartbeat', () => {
        parts.counters.membershipRounds++
        parts.tick(now)
      }),
    placementChanged: () => parts.guard('placement', () => parts.router.placementChanged()),
    random: Math.random,
  }
}
