import type { Encoder } from 'lib0/encoding'
import { applyAwarenessUpdate } from 'y-protocols/awareness'
import type * as Y from 'yjs'
import {
  CloseCode,
  RateLimiter,
  SendBuffer,
  bufferedBytes,
  SOCKET_OPEN,
  TickCork,
  unrefTimer,
  errorText,
} from '../common/index.js'
import type { Connection, MeshSocket } from '../common/index.js'
import { receiveFrame, type FrameRules } from '../security/index.js'
import { readAwarenessEntries, writeAwarenessEntries } from './awareness-entries.js'
import { LinkHandshake } from './link-handshake.js'
import {
  decodeBatched,
  decodePeer,
  encodePeer,
  type FrameSegments,
  type Hello,
  type PeerMessage,
} from './peer-messages.js'
import { MessageType, type Resolution } from './protocol.js'
import { FrameAssembler, frameLength, joinSegments, PART_BYTES, pieceBytes, splitFrame } from './frame-parts.js'
import { BATCH_FRAME_BYTES, FrameBatch, frameOf } from './frame-batch.js'
import type { PeerSink, Room } from './room.js'
import { RoomSyncs, type LinkRoomStatus } from './room-sync.js'
import type { CheckKind } from './check-answers.js'
import type { LinkHostOf } from './link-host.js'

export type { LinkRoomState, LinkRoomStatus, MergeReport } from './room-sync.js'

/** How long a peer may take to finish the handshake before its socket is closed. */
const HANDSHAKE_TIMEOUT_MS = 10_000
/** Frames inside `batch` messages a peer may send per second, in multiples of its message rate. */
const BATCHED_RATE_FACTOR = 16
/** WebSocket close reasons are limited to 123 bytes. */
const MAX_REASON = 120

const truncate = (text: string): string => (text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text)

/**
 * One WebSocket between two Mesh nodes, in either direction. It runs the handshake, the
 * per-room (re)sync with the conflict policy, and carries live updates and awareness.
 */
export class PeerLink implements Connection, PeerSink {
  /** `dialer` opened the socket, `acceptor` was connected to. */
  readonly role: 'dialer' | 'acceptor'
  /** The peer's handshake, once received. */
  remote: Hello | undefined
  /** True once the peer announced a graceful leave. */
  leaving = false
  #host: LinkHostOf<PeerLink>
  #socket: MeshSocket
  #state: 'handshake' | 'proving' | 'open' | 'closed' = 'handshake'
  #draining = false
  #handshake: LinkHandshake
  #rules: FrameRules<PeerMessage>
  /** Milliseconds since the epoch the last frame arrived. */
  lastReceivedAt = Date.now()
  #syncs: RoomSyncs
  #timer: ReturnType<typeof setTimeout> | undefined
  #closeReason: { code: number; reason: string } | undefined
  #sendBuffer: SendBuffer
  #parts: FrameAssembler
  #cork: TickCork
  #batch: FrameBatch
  #batched: RateLimiter
  constructor(options: { host: LinkHostOf<PeerLink>; socket: MeshSocket; role: 'dialer' | 'acceptor' }) {
    this.#host = options.host
    this.#socket = options.socket
    this.#sendBuffer = new SendBuffer({ limit: options.host.sendBufferBytes })
    this.#cork = new TickCork(options.socket)
    this.#batch = new FrameBatch({
      send: (frame) => this.#sendPiece(frame),
      maxBytes: Math.min(PART_BYTES, options.host.maxMessageBytes),
    })
    this.#batched = new RateLimiter(options.host.messagesPerSecond * BATCHED_RATE_FACTOR)
    this.#parts = new FrameAssembler({
      maxBytes: options.host.maxAssembledBytes,
      // Every node of a mesh cuts with the same limits; allow for a peer whose limit is half ours.
      minPiece: Math.max(1, Math.floor(pieceBytes(options.host.maxMessageBytes) / 2)),
    })
    this.role = options.role
    this.#handshake = new LinkHandshake({
      host: options.host,
      role: options.role,
      send: (frame) => this.sendFrame(frame),
    })
    this.#syncs = new RoomSyncs(this, options.host)
    const host = options.host
    this.#rules = {
      maxBytes: host.maxMessageBytes,
      limiter: new RateLimiter(host.messagesPerSecond),
      count: (bytes) => {
        host.metrics.peerFramesIn++
        host.metrics.peerBytesIn += bytes
        this.lastReceivedAt = Date.now()
      },
      decode: decodePeer,
      handle: (message) => this.#handle(message),
      fail: (code, reason) => this.fail(code, reason),
    }
    this.#timer = setTimeout(
      () => this.fail(CloseCode.badMessage, 'handshake not completed in time'),
      HANDSHAKE_TIMEOUT_MS,
    )
    unrefTimer(this.#timer)
    if (this.role === 'dialer') this.#handshake.sendHello()
  }
  /** The peer's node id, once known. */
  get peerId(): string | undefined {
    return this.remote?.nodeId
  }
  /** `handshake`, `open` or `closed`. */
  get state(): 'handshake' | 'proving' | 'open' | 'closed' {
    return this.#state
  }
  /** The code and reason this link was closed with, if it closed itself. */
  get closeReason(): { code: number; reason: string } | undefined {
    return this.#closeReason
  }
  /** True when every room finished its initial sync (or is quarantined). */
  get settled(): boolean {
    return this.#state === 'open' && this.#syncs.settled
  }
  /**
   * Sends a frame if the socket is open: a small one at the end of the tick with the tick's
   * other small frames (`batch`), a large one in pieces when it is larger than `PART_BYTES`
   * (or the frame limit), each piece copied straight from the segments of a frame given as
   * such. A failing send closes the link.
   */
  sendFrame(frame: Uint8Array<ArrayBuffer> | FrameSegments): void {
    if (!(frame instanceof Uint8Array) && frameLength(frame) <= BATCH_FRAME_BYTES) frame = joinSegments(frame)
    if (this.#state === 'open' && frame instanceof Uint8Array && this.#batch.fits(frame)) return this.#batch.add(frame)
    this.#batch.flush()
    for (const piece of splitFrame(frame, Math.min(PART_BYTES, this.#host.maxMessageBytes))) this.#sendPiece(piece)
  }
  /** Sends the frame in `encoder` (`writePeer`): copied into the tick's batch when it fits there, no frame of its own. */
  sendEncoded(encoder: Encoder): void {
    if (this.#state !== 'open' || !this.#batch.addEncoded(encoder)) this.sendFrame(frameOf(encoder))
  }
  #sendPiece(frame: Uint8Array<ArrayBuffer>): void {
    if (this.#state === 'closed') return
    // The peer's close came first (the socket is closing): the answers here never leave.
    if (this.#socket.readyState !== SOCKET_OPEN) return this.#host.unsent?.(frame, this)
    const held = this.#sendBuffer.overflow(this.#socket, frame.length)
    if (held !== undefined) {
      const limit = this.#sendBuffer.limit
      this.#host.logger.warn('closing peer link that reads slower than this node sends', {
        peer: this.peerId,
        held,
        limit,
      })
      return this.fail(CloseCode.sendBufferFull, `over ${limit} bytes waiting to be sent: the peer reads too slowly`)
    }
    try {
      this.#cork.hold()
      this.#socket.send(frame)
      this.#host.metrics.peerFramesOut++
      this.#host.metrics.peerBytesOut += frame.length
    } catch (error) {
      this.#host.logger.warn('peer send failed', { peer: this.peerId, error: errorText(error) })
      this.fail(CloseCode.goingAway, 'send failed')
    }
  }
  /** Handles one frame from the socket. Anything malformed closes this link only. */
  receive(data: Uint8Array | ArrayBuffer | string): void {
    if (this.#state === 'closed' && !this.#draining) return
    receiveFrame(data, this.#rules)
  }
  /**
   * True from closing as a duplicate (4409) until the socket closed: the peer closes it too, and
   * what it sent before that still arrives (the socket reads until the peer's close frame), so
   * the answers among it are taken. A call this node sent on the link may or may not have
   * arrived; the router sends it again only once the peer's answers can no longer come.
   */
  get draining(): boolean {
    return this.#draining
  }
  /** Takes nothing more on a draining link (its peer was cut off); a no-op otherwise. */
  stopDraining(): void {
    this.#drained()
  }
  /** Closes the socket with a code and reason, and cleans up. */
  fail(code: number, reason: string): void {
    if (this.#state === 'closed') return
    // What this tick already sent goes first (a `leave` among it); a send that fails closes the link itself.
    this.#batch.flush()
    if (this.isClosed) return
    this.#closeReason = { code, reason: truncate(reason) }
    this.#host.metrics.closed(code)
    // A dialer's failed handshake is reported by its PeerDialer, which backs off and throttles the lines;
    // two nodes that dial each other settle on one link by closing the other: routine, not a warning.
    const quiet = (this.role === 'dialer' && this.#state !== 'open') || code === CloseCode.duplicate
    this.#host.logger[code >= 4000 && !quiet ? 'warn' : 'debug']('closing peer link', {
      peer: this.peerId,
      code,
      reason,
    })
    this.#draining = code === CloseCode.duplicate && this.#state === 'open'
    try {
      this.#socket.close(code, truncate(reason))
    } catch {
      // The socket is already gone; cleanup below is all that matters.
      this.#draining = false
    }
    this.close()
  }
  /** Says goodbye (the peer then treats this as a graceful leave) and closes. */
  leave(reason = 'leaving'): void {
    if (this.#state === 'open') this.sendFrame(encodePeer.leave(reason))
    this.fail(CloseCode.normal, reason)
  }
  /** Cleans up after the socket closed. Safe to call more than once. */
  close(): void {
    if (this.#state === 'closed') return this.#drained()
    this.#state = 'closed'
    clearTimeout(this.#timer)
    this.#batch.clear()
    this.#syncs.clear()
    // Always: a socket that never finished its handshake must stop counting as a connection.
    this.#host.linkDown(this)
    this.#host.progress()
  }
  #drained(): void {
    if (!this.#draining) return
    this.#draining = false
    this.#host.drained?.(this)
  }
  #handle(message: PeerMessage): void {
    if (this.#draining) return this.#drain(message)
    if (this.#state === 'handshake') {
      if (message.type !== MessageType.hello) throw new Error('expected hello first')
      return this.#onHello(message)
    }
    if (this.#state === 'proving') {
      if (message.type !== MessageType.prove) return this.fail(CloseCode.unauthorized, 'authentication required')
      return this.#onProve(message.proof)
    }
    switch (message.type) {
      case MessageType.hello:
        throw new Error('hello sent twice')
      case MessageType.prove:
        throw new Error('proof sent twice')
      case MessageType.state:
        return this.#syncs.onState(message.room, message.snapshot, message.resolution)
      case MessageType.diff:
        return this.#syncs.onDiff(message.room, message.update, message.changed)
      case MessageType.batch:
        for (let i = 0; i < message.count; i++) {
          if (this.#state !== 'open') return
          if (!this.#batched.take()) {
            return this.fail(CloseCode.rateLimited, `more than ${this.#batched.perSecond} batched messages per second`)
          }
          this.#handle(decodeBatched(message.frames))
        }
        return
      case MessageType.part: {
        const whole = this.#parts.add(message.total, message.piece)
        if (!whole) return
        const inner = decodePeer(whole)
        if (inner.type === MessageType.part) throw new Error('a part inside a part')
        return this.#handle(inner)
      }
      case MessageType.updates:
        return this.#syncs.onUpdates(message.room, message.updates)
      case MessageType.roomAwareness: {
        const room = this.#host.existingRoom(message.room)
        if (!room) return
        // Entries for a light peer of this node come only from that light peer.
        const entries = readAwarenessEntries(message.update)
        const owners = room.awarenessOwners
        const { kept: allowed, dropped } = room.capAwareness(entries.filter((e) => !room.ownedByLight(e.clientId)))
        if (dropped > 0)
          this.#host.logger.warn('dropped awareness states for new clients: the room holds as many as it may', {
            peer: this.peerId,
            room: room.name,
            dropped,
          })
        if (allowed.length === 0) return
        applyAwarenessUpdate(
          room.awareness,
          allowed.length === entries.length ? message.update : writeAwarenessEntries(allowed),
          this,
        )
        // Owned only while a state is here: a relayed removal must leave no owner entry behind.
        const states = room.awareness.getStates()
        for (const entry of allowed) if (states.has(entry.clientId)) owners.set(entry.clientId, this)
        return
      }
      case MessageType.hold:
        return this.#syncs.onHold(message.room, message.changed)
      case MessageType.leave:
        this.leaving = true
        this.#host.logger.info('peer is leaving', { peer: this.peerId, reason: message.reason })
        this.#host.leaving(this)
        return
      case MessageType.gossip:
        return this.#host.gossip(message.json, this)
      case MessageType.check:
        return this.#syncs.onCheck(message.room, message.snapshot, message.reply)
      case MessageType.repair:
        return this.#syncs.onRepair(message.room, message.update)
      case MessageType.call:
        return this.#host.call(message, this)
      case MessageType.answer:
        return this.#host.answer(message, this)
      case MessageType.publish:
        return this.#host.publish(message, this)
      case MessageType.relays:
        return this.#syncs.onRelays(message.room, message.peers, message.want)
    }
  }
  /** What a link closed as a duplicate still takes: answers, alone, in a batch or in parts. */
  #drain(message: PeerMessage): void {
    if (message.type === MessageType.answer) return this.#host.answer(message, this)
    if (message.type === MessageType.batch) {
      for (let i = 0; i < message.count && this.#draining; i++) this.#drain(decodeBatched(message.frames))
    } else if (message.type === MessageType.part) {
      const whole = this.#parts.add(message.total, message.piece)
      if (whole) this.#drain(decodePeer(whole))
    }
  }
  #onHello(hello: Hello): void {
    const refusal = this.#handshake.checkHello(hello)
    if (refusal) return this.fail(refusal.code, refusal.reason)
    this.remote = hello
    this.#handshake.answerHello(hello)
    this.#state = 'proving'
  }
  #onProve(proof: string): void {
    const remote = this.remote
    if (!remote) throw new Error('proof before hello')
    const refusal = this.#handshake.checkProof(remote, proof)
    if (refusal) return this.fail(refusal.code, refusal.reason)
    this.#open()
  }
  #open(): void {
    const remote = this.remote
    if (!remote) return
    clearTimeout(this.#timer)
    this.#state = 'open'
    if (!this.#host.linkUp(this)) return this.fail(CloseCode.duplicate, 'duplicate link')
    this.#syncs.startAll([...this.#host.rooms()], (room) => this.#host.pendingResolution(remote.nodeId, room))
  }

  /** Bytes the socket holds that it has not written to the network yet (0 when it cannot tell). */
  get unsentBytes(): number {
    return bufferedBytes(this.#socket) ?? 0
  }
  /** True once the link closed (a getter, so a check after a call that may close it is not narrowed away). */
  get isClosed(): boolean {
    return this.#state === 'closed'
  }
  /** True once the handshake is done and until the link closes. */
  get isOpen(): boolean {
    return this.#state === 'open'
  }

  /** Per-room sync state and history relation, for status reports. */
  roomStates(): Record<string, LinkRoomStatus> {
    return this.#syncs.roomStates()
  }

  /** Starts a (re)sync round for a room: sends this side's state. */
  startRoom(room: Room, resolution: Resolution = 'none'): void {
    this.#syncs.startRoom(room, resolution)
  }

  /** Sends an anti-entropy check for `room` if live here and due (else false); an `ask` gets the peer's snapshot ({@link holds}). */
  sendCheck(room: string, snapshot: Uint8Array, kind: CheckKind = 'round'): boolean {
    return this.#syncs.sendCheck(room, snapshot, kind)
  }

  /** True when the peer's last reported snapshot of `room` holds everything in `target`. */
  holds(room: string, target: Y.Snapshot): boolean {
    return this.#syncs.holds(room, target)
  }

  /** True while a round that a resolution started for `room` has not applied the peer's state yet. */
  resolving(room: string): boolean {
    return this.#syncs.resolving(room)
  }

  /** Forgets a room this node unloaded; the peer holds it on this link until the room comes back. */
  dropRoom(name: string): void {
    this.#syncs.dropRoom(name)
  }

  /** Quarantines a room on this link because the node quarantined it (a conflict on another link). */
  holdRoom(name: string): void {
    this.#syncs.holdRoom(name)
  }
}
