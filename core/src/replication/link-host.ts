import type { Logger, Metrics } from '../common/index.js'
import type { HandshakeHost } from './link-handshake.js'
import type { AnswerStatus, CallMessage, PublishMessage, Resolution } from './protocol.js'
import type { Room } from './room.js'
import type { SyncHost } from './room-sync.js'

/**
 * What a link needs from the node that owns it (its rooms' syncs with the conflict policy:
 * SyncHost), for links of type `Link` (`LinkHost` in peer-link.ts is this for `PeerLink`; the
 * parameter keeps this file from importing the link that imports it).
 */
export interface LinkHostOf<Link> extends HandshakeHost, SyncHost {
  readonly logger: Logger
  readonly maxMessageBytes: number
  /** Largest frame a peer may send in pieces (`part` messages). */
  readonly maxAssembledBytes: number
  readonly metrics: Metrics
  /** Frames per second one peer may send (bursts of twice that). */
  readonly messagesPerSecond: number
  /** Unsent bytes a link may hold beyond the largest frame it was sent, before it is closed. */
  readonly sendBufferBytes: number
  /** Returns the room, creating it (and announcing it to every link) if needed. */
  room(name: string): Room
  rooms(): Iterable<Room>
  existingRoom(name: string): Room | undefined
  /** Registers an open link; false means a link to that node exists already and this one must go. */
  linkUp(link: Link): boolean
  linkDown(link: Link): void
  /** A link that closed as a duplicate ({@link the link's `draining`}) took the peer's last answers: its socket closed. */
  drained?(link: Link): void
  /** A frame the link could not send: its socket was closing under it. */
  unsent?(frame: Uint8Array, link: Link): void
  /** A resolution of a quarantined room that no round with the peer carried through yet (conflicts.ts). */
  pendingResolution(peer: string, room: string): Resolution
  /** Something about this link's sync progress changed. */
  progress(): void
  /** Member records a peer gossiped, as JSON: the host validates them (a throw closes the link). */
  gossip(json: string, link: Link): void
  /** The peer announced a graceful leave. */
  leaving(link: Link): void
  /** A routed call arrived (docs/routing.md): the host checks it (a throw closes the link). */
  call(message: CallMessage, link: Link): void
  /** The answer to a routed call this node sent or relayed. */
  answer(message: { callId: number; status: AnswerStatus; body: string }, link: Link): void
  /** A pub/sub message (docs/routing.md): the host checks it (a throw closes the link). */
  publish(message: PublishMessage, link: Link): void
}
