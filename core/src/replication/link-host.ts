import type { Logger, Metrics } from '../common/index.js'
import type { HandshakeHost } from './link-handshake.js'
import type { PeerLink } from './peer-link.js'
import type { AnswerStatus, CallMessage, PublishMessage, Resolution } from './protocol.js'
import type { Room } from './room.js'
import type { SyncHost } from './room-sync.js'

/** What a link needs from the node that owns it (its rooms' syncs with the conflict policy: SyncHost). */
export interface LinkHost extends HandshakeHost, SyncHost {
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
  linkUp(link: PeerLink): boolean
  linkDown(link: PeerLink): void
  /** A link that closed as a duplicate ({@link PeerLink.draining}) took the peer's last answers: its socket closed. */
  drained?(link: PeerLink): void
  /** A frame the link could not send: its socket was closing under it. */
  unsent?(frame: Uint8Array, link: PeerLink): void
  /** A resolution of a quarantined room that no round with the peer carried through yet (conflicts.ts). */
  pendingResolution(peer: string, room: string): Resolution
  /** Something about this link's sync progress changed. */
  progress(): void
  /** Member records a peer gossiped, as JSON: the host validates them (a throw closes the link). */
  gossip(json: string, link: PeerLink): void
  /** The peer announced a graceful leave. */
  leaving(link: PeerLink): void
  /** A routed call arrived (docs/routing.md): the host checks it (a throw closes the link). */
  call(message: CallMessage, link: PeerLink): void
  /** The answer to a routed call this node sent or relayed. */
  answer(message: { callId: number; status: AnswerStatus; body: string }, link: PeerLink): void
  /** A pub/sub message (docs/routing.md): the host checks it (a throw closes the link). */
  publish(message: PublishMessage, link: PeerLink): void
}
