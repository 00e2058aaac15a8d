import type { Logger, Metrics, Progress } from '../common/index.js'
import { parseGossip, type Membership } from '../membership/index.js'
import {
  answersIn,
  type ConflictPolicy,
  type Conflicts,
  type LinkHost,
  type PeerLinks,
  type Room,
  type Rooms,
} from '../replication/index.js'
import type { ConcurrentWrite } from '../store/index.js'
import type { PubSub, Router } from '../routing/index.js'
import type { MeshLimits } from './options.js'

/** The parts of a node its peer links talk to. */
export interface LinkHostParts {
  readonly node: {
    readonly id: string
    readonly name: string
    readonly url: string
    readonly clientId: number
    readonly onConflict: ConflictPolicy
    readonly logger: Logger
  }
  readonly limits: Readonly<Required<MeshLimits>>
  readonly secrets: readonly string[]
  readonly counters: Metrics
  readonly progress: Progress
  rooms(): Rooms
  links(): PeerLinks
  conflicts(): Conflicts
  /** Reports writes concurrent with this node's own (ConcurrentWrites). */
  concurrent(room: Room, writes: ConcurrentWrite[], origin: object): void
  membership(): Membership
  router(): Router
  pubsub(): PubSub
}

/** What every peer link of a node sees of it. */
export const makeLinkHost = (parts: LinkHostParts): LinkHost => {
  const { node, limits } = parts
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
    get clientId() {
      return node.clientId
    },
    get policy() {
      return node.onConflict
    },
    get logger() {
      return node.logger
    },
    maxMessageBytes: limits.peerMessageBytes,
    // A whole room's state, and the framing of the message that carries it.
    maxAssembledBytes: limits.maxDocumentBytes + 1024 * 1024,
    secrets: parts.secrets,
    metrics: parts.counters,
    messagesPerSecond: limits.peerMessagesPerSecond,
    sendBufferBytes: limits.peerSendBufferBytes,
    room: (name) => parts.rooms().room(name),
    rooms: () => parts.rooms().values(),
    existingRoom: (name) => parts.rooms().existing(name),
    linkUp: (link) => {
      const up = parts.links().linkUp(link)
      if (up) parts.router().linkUp()
      return up
    },
    linkDown: (link) => {
      parts.links().linkDown(link)
      parts.router().linkDown(link)
    },
    unsent: (frame, link) => {
      for (const answer of answersIn(frame)) parts.router().unsentAnswer(answer, link)
    },
    drained: (link) => {
      parts.links().drained(link)
      parts.router().linkDrained(link)
    },
    quarantined: (room) => parts.conflicts().quarantined(room),
    resolvedByPeer: (peer, room, remote) => parts.conflicts().resolvedByPeer(peer, room, remote),
    settled: (room, local, remote) => parts.conflicts().settled(room, local, remote),
    waitFor: (room, resume) => parts.conflicts().waitFor(room, resume),
    settle: (room, peer, remote) => parts.conflicts().settle(room, peer, remote),
    concurrent: (room, writes, origin) => parts.concurrent(room, writes, origin),
    pendingResolution: (peer, room) => parts.conflicts().pendingResolution(peer, room),
    merged: (report) => parts.conflicts().merged(report),
    conflict: (error, remote) => parts.conflicts().raise(error, remote),
    progress: () => parts.progress.notify(),
    gossip: (json, link) =>
      parts.membership().receive(parseGossip(json), Date.now(), link.peerId, link.role === 'acceptor'),
    leaving: (link) => {
      if (link.peerId) parts.membership().left(link.peerId, Date.now())
    },
    call: (message, link) => parts.router().receiveCall(message, link),
    answer: (message, link) => parts.router().receiveAnswer(message, link),
    publish: (message, link) => parts.pubsub().receive(message, link),
  }
}
