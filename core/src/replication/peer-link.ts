import { applyAwarenessUpdate } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { CloseCode } from '../common/index.js'
import { compareSnapshots, snapshotContains, type HistoryRelation } from './compare.js'
import {
  changedSince,
  CONFLICT_POLICIES,
  conflictsBetween,
  decodeChanged,
  encodeChanged,
  yieldOwnWrites,
  YieldOrigin,
  type ChangedKeys,
  type ConflictPolicy,
} from './conflict.js'
import { MeshConflictError, MeshError, type ConflictingKey } from '../common/index.js'
import type { Logger } from '../common/index.js'
import {
  decodePeer,
  encodePeer,
  MessageType,
  PROTOCOL_VERSION,
  type Hello,
  type PeerMessage,
  type Resolution,
} from './protocol.js'
import { readAwarenessEntries, writeAwarenessEntries } from './awareness-entries.js'
import { dialableUrl } from '../common/index.js'
import { receiveFrame, type FrameRules } from '../security/index.js'
import { checkUpdate } from './update-check.js'
import { matchingSecret, newNonce, sign, signAll } from '../security/index.js'
import type { Metrics } from '../common/index.js'
import { RateLimiter } from '../common/index.js'
import { SendBuffer } from '../common/index.js'
import type { PeerSink, Room } from './room.js'
import { SOCKET_OPEN, type Connection, type MeshSocket } from '../common/index.js'

/** How long a peer may take to finish the handshake before its socket is closed. */
const HANDSHAKE_TIMEOUT_MS = 10_000
/** WebSocket close reasons are limited to 123 bytes. */
const MAX_REASON = 120

/** What one room looks like on one link: how far its (re)sync got. */
export type LinkRoomState = 'syncing' | 'synced' | 'quarantined'

/** What a merge on (re)sync found, reported through the node's `merge` event. */
export interface MergeReport {
  peer: string
  room: string
  relation: HistoryRelation
  policy: ConflictPolicy
  /** Keys both sides changed to different values; `winner` is the value after the merge. */
  conflicts: Array<ConflictingKey & { winner: unknown }>
}

/** What a link needs from the node that owns it. */
export interface LinkHost {
  readonly id: string
  readonly name: string
  readonly url: string
  readonly clientId: number
  readonly policy: ConflictPolicy
  readonly logger: Logger
  readonly maxMessageBytes: number
  /** Shared secrets of the mesh; the first signs, any verifies. Empty: no authentication. */
  readonly secrets: readonly string[]
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
  /** A resolution the application chose for a quarantined room while the link was down. */
  takeResolution(peer: string, room: string): Resolution
  /** True while the room is quarantined on this node (`exception`): nothing crosses any link. */
  quarantined(room: string): boolean
  /** The peer's application resolved a conflict with this node: clear it here too. */
  resolvedByPeer(peer: string, room: string): void
  merged(report: MergeReport): void
  conflict(error: MeshConflictError): void
  /** Something about this link's sync progress changed. */
  progress(): void
  /** Member records a peer gossiped, as JSON: the host validates them (a throw closes the link). */
  gossip(json: string, link: PeerLink): void
  /** The peer announced a graceful leave. */
  leaving(link: PeerLink): void
}

interface RoomSync {
  sentState: boolean
  gotState: boolean
  outgoing: 'pending' | 'live' | 'held'
  incoming: 'pending' | 'synced' | 'held'
  override: Resolution
  relation?: HistoryRelation
  policy?: ConflictPolicy
  remoteSnapshot?: Y.Snapshot
  localChanged?: ChangedKeys
  remoteChanged?: ChangedKeys
  conflictRaised?: boolean
}

const freshSync = (override: Resolution = 'none'): RoomSync => ({
  sentState: false,
  gotState: false,
  outgoing: 'pending',
  incoming: 'pending',
  override,
})

const truncate = (text: string): string => (text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text)

// Check fully before applying: Yjs may integrate part of a malformed update and then throw.
const validateUpdate = (update: Uint8Array): void => checkUpdate(update, 'v2')

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
  #host: LinkHost
  #socket: MeshSocket
  #state: 'handshake' | 'proving' | 'open' | 'closed' = 'handshake'
  #nonce = newNonce()
  #rules: FrameRules<PeerMessage>
  /** Milliseconds since the epoch the last frame arrived. */
  lastReceivedAt = Date.now()
  #rooms = new Map<string, RoomSync>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #closeReason: { code: number; reason: string } | undefined
  #sendBuffer: SendBuffer

  constructor(options: { host: LinkHost; socket: MeshSocket; role: 'dialer' | 'acceptor' }) {
    this.#host = options.host
    this.#socket = options.socket
    this.#sendBuffer = new SendBuffer({ limit: options.host.sendBufferBytes })
    this.role = options.role
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
    this.#timer.unref?.()
    if (this.role === 'dialer') this.#sendHello()
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
    if (this.#state !== 'open') return false
    for (const sync of this.#rooms.values()) if (sync.incoming === 'pending') return false
    return true
  }

  /** Per-room sync state and history relation, for status reports. */
  roomStates(): Record<string, { state: LinkRoomState; relation: HistoryRelation | null }> {
    const out: Record<string, { state: LinkRoomState; relation: HistoryRelation | null }> = {}
    for (const [name, sync] of this.#rooms) {
      const state: LinkRoomState =
        sync.outgoing === 'held' || sync.incoming === 'held'
          ? 'quarantined'
          : sync.incoming === 'synced' && sync.outgoing === 'live'
            ? 'synced'
            : 'syncing'
      out[name] = { state, relation: sync.relation ?? null }
    }
    return out
  }

  /** Sends a frame if the socket is open; a failing send closes the link. */
  sendFrame(frame: Uint8Array<ArrayBuffer>): void {
    if (this.#state === 'closed' || this.#socket.readyState !== SOCKET_OPEN) return
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
      this.#socket.send(frame)
      this.#host.metrics.peerFramesOut++
      this.#host.metrics.peerBytesOut += frame.length
    } catch (error) {
      this.#host.logger.warn('peer send failed', { peer: this.peerId, error: String(error) })
      this.fail(CloseCode.goingAway, 'send failed')
    }
  }

  /** Handles one frame from the socket. Anything malformed closes this link only. */
  receive(data: Uint8Array | ArrayBuffer | string): void {
    if (this.#state === 'closed') return
    receiveFrame(data, this.#rules)
  }

  /** Closes the socket with a code and reason, and cleans up. */
  fail(code: number, reason: string): void {
    if (this.#state === 'closed') return
    this.#closeReason = { code, reason: truncate(reason) }
    this.#host.metrics.closed(code)
    // A dialer's failed handshake is reported by its PeerDialer, which backs off and throttles the lines;
    // two nodes that dial each other settle on one link by closing the other: routine, not a warning.
    const quiet = (this.role === 'dialer' && this.#state !== 'open') || code === CloseCode.duplicate
    const log = code >= 4000 && !quiet ? this.#host.logger.warn : this.#host.logger.debug
    log.call(this.#host.logger, 'closing peer link', { peer: this.peerId, code, reason })
    try {
      this.#socket.close(code, truncate(reason))
    } catch {
      // The socket is already gone; cleanup below is all that matters.
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
    if (this.#state === 'closed') return
    this.#state = 'closed'
    clearTimeout(this.#timer)
    for (const name of this.#rooms.keys()) this.#host.existingRoom(name)?.removeLink(this)
    this.#rooms.clear()
    // Always: a socket that never finished its handshake must stop counting as a connection.
    this.#host.linkDown(this)
    this.#host.progress()
  }

  /** Starts a (re)sync round for a room: sends this side's state. */
  startRoom(room: Room, resolution: Resolution = 'none'): void {
    if (this.#state !== 'open') return
    this.#host.existingRoom(room.name)?.removeLink(this)
    const sync = freshSync(resolution)
    sync.sentState = true
    this.#rooms.set(room.name, sync)
    this.sendFrame(encodePeer.state(room.name, room.encodeSnapshot(), resolution))
    this.#host.progress()
  }

  /**
   * Sends an anti-entropy check for a room, if the room is live on this link; with `reply`
   * the peer answers with its snapshot at once (see {@link holds}). False when not live.
   */
  sendCheck(room: string, snapshot: Uint8Array, reply = false): boolean {
    if (!this.#live(room)) return false
    this.sendFrame(encodePeer.check(room, snapshot, reply))
    return true
  }

  #peerSnapshots = new Map<string, Y.Snapshot>()

  /** True when the peer's last reported snapshot of `room` holds everything in `target`. */
  holds(room: string, target: Y.Snapshot): boolean {
    const theirs = this.#peerSnapshots.get(room)
    return theirs !== undefined && snapshotContains(theirs, target)
  }

  #live(room: string): boolean {
    const sync = this.#rooms.get(room)
    return this.#state === 'open' && sync?.outgoing === 'live' && sync.incoming === 'synced'
  }

  #onCheck(name: string, snapshotBytes: Uint8Array, reply: boolean): void {
    const room = this.#host.existingRoom(name)
    const theirs = Y.decodeSnapshot(snapshotBytes)
    // An unloaded room comes back once the peer's copy holds something.
    if (!this.#rooms.has(name) && theirs.sv.size > 0) return this.#revive(name)
    if (!room || !this.#live(name)) return
    this.#peerSnapshots.set(name, theirs)
    if (reply) this.sendFrame(encodePeer.check(name, room.encodeSnapshot()))
    this.#host.progress()
    const mine = room.checkpoint
    if (!mine) return
    // Judged against our previous round, not our current state: what we gained since may
    // still be on its way, and resending it would be waste, not repair.
    if (snapshotContains(theirs, mine)) return
    this.#host.metrics.repairsSent++
    this.#host.logger.info('anti-entropy: peer lacks updates, repairing', { peer: this.peerId, room: name })
    this.sendFrame(encodePeer.repair(name, Y.encodeStateAsUpdateV2(room.doc, Y.encodeStateVector(theirs.sv))))
  }

  #onRepair(name: string, update: Uint8Array): void {
    if (!this.#rooms.has(name)) return this.#revive(name)
    if (!this.#live(name)) return
    validateUpdate(update)
    const room = this.#host.room(name)
    if (!room.admit(update.length)) return this.#tooBig(room)
    this.#host.metrics.repairsReceived++
    Y.applyUpdateV2(room.doc, update, this)
  }

  #sendHello(): void {
    const host = this.#host
    this.sendFrame(
      encodePeer.hello({
        nodeId: host.id,
        name: host.name,
        url: host.url,
        clientId: host.clientId,
        onConflict: host.policy,
        nonce: this.#nonce,
        // Proofs travel in `prove`, once each side's nonce is known (protocol version 2).
        proof: '',
      }),
    )
  }

  #handle(message: PeerMessage): void {
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
        return this.#onState(message.room, message.snapshot, message.resolution)
      case MessageType.diff:
        return this.#onDiff(message.room, message.update, message.changed)
      case MessageType.updates:
        return this.#onUpdates(message.room, message.updates)
      case MessageType.roomAwareness: {
        const room = this.#host.existingRoom(message.room)
        if (!room) return
        // Entries for a light peer of this node come only from that light peer.
        const entries = readAwarenessEntries(message.update)
        const owners = room.awarenessOwners
        const allowed = entries.filter((e) => !room.ownedByLight(e.clientId))
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
        return this.#onHold(message.room, message.changed)
      case MessageType.leave:
        this.leaving = true
        this.#host.logger.info('peer is leaving', { peer: this.peerId, reason: message.reason })
        this.#host.leaving(this)
        return
      case MessageType.gossip:
        return this.#host.gossip(message.json, this)
      case MessageType.check:
        return this.#onCheck(message.room, message.snapshot, message.reply)
      case MessageType.repair:
        return this.#onRepair(message.room, message.update)
    }
  }

  #onHello(hello: Hello): void {
    if (hello.version !== PROTOCOL_VERSION) {
      return this.fail(CloseCode.protocolVersion, `protocol version ${hello.version}, expected ${PROTOCOL_VERSION}`)
    }
    if (hello.nodeId.length === 0 || hello.nodeId.length > 128) throw new Error('bad node id')
    if (hello.name.length > 256) throw new Error('name too long')
    hello.url = dialableUrl(hello.url)
    if (!CONFLICT_POLICIES.includes(hello.onConflict as ConflictPolicy)) throw new Error('unknown onConflict policy')
    if (hello.nodeId === this.#host.id) return this.fail(CloseCode.duplicate, 'link to self')
    this.remote = hello
    if (this.role === 'acceptor') {
      // No proof yet: the dialer proves first, so a client without the secret gets no HMAC to guess against.
      this.#sendHello()
      this.#state = 'proving'
      return
    }
    const { secrets, id } = this.#host
    this.sendFrame(
      encodePeer.prove(
        secrets.length > 0 ? signAll(secrets, ['dialer', this.#nonce, hello.nonce, id, hello.nodeId]) : '',
      ),
    )
    this.#state = 'proving'
  }

  /**
   * The other side's proof. The acceptor checks the dialer's, then proves itself with the
   * secret that matched; the dialer checks the acceptor's (mutual authentication). Both
   * proofs cover both nonces, so neither can be replayed on another connection.
   */
  #onProve(proof: string): void {
    const remote = this.remote
    if (!remote) throw new Error('proof before hello')
    const { secrets, id } = this.#host
    const acceptor = this.role === 'acceptor'
    const dialerNonce = acceptor ? remote.nonce : this.#nonce
    const acceptorNonce = acceptor ? this.#nonce : remote.nonce
    const [dialerId, acceptorId] = acceptor ? [remote.nodeId, id] : [id, remote.nodeId]
    const dialerParts = ['dialer', dialerNonce, acceptorNonce, dialerId, acceptorId]
    const acceptorParts = ['acceptor', dialerNonce, acceptorNonce, acceptorId, dialerId]
    if (secrets.length === 0) {
      // Both sides need a secret, and a common one; a node with one never joins a node without.
      if (proof !== '') return this.fail(CloseCode.unauthorized, 'the peer has a mesh secret and this node has none')
      if (acceptor) this.sendFrame(encodePeer.prove(''))
      return this.#open()
    }
    const secret = matchingSecret(secrets, proof, acceptor ? dialerParts : acceptorParts)
    if (secret === undefined) {
      return this.fail(
        CloseCode.unauthorized,
        acceptor ? 'wrong or missing mesh secret' : 'the peer does not know the mesh secret',
      )
    }
    if (acceptor) this.sendFrame(encodePeer.prove(sign(secret, acceptorParts)))
    this.#open()
  }

  #open(): void {
    const remote = this.remote
    if (!remote) return
    clearTimeout(this.#timer)
    this.#state = 'open'
    if (!this.#host.linkUp(this)) return this.fail(CloseCode.duplicate, 'duplicate link')
    for (const room of [...this.#host.rooms()]) {
      this.startRoom(room, this.#host.takeResolution(remote.nodeId, room.name))
    }
  }

  #policy(sync: RoomSync, remoteResolution: Resolution): ConflictPolicy {
    if (sync.override !== 'none') return sync.override
    // The remote's application chose: merge, or adopt our state; either way we merge.
    if (remoteResolution !== 'none') return 'merge'
    const local = this.#host.policy
    if (local === 'accept' && this.remote?.onConflict === 'accept') {
      return this.role === 'dialer' ? 'accept' : 'merge'
    }
    return local
  }

  #sync(name: string): RoomSync {
    const sync = this.#rooms.get(name)
    if (!sync) throw new Error(`room "${name}" was not synced on this link`)
    return sync
  }

  #goLive(sync: RoomSync, room: Room): void {
    sync.outgoing = 'live'
    room.addLink(this)
  }

  #onState(name: string, snapshotBytes: Uint8Array, resolution: Resolution): void {
    const remoteSnapshot = Y.decodeSnapshot(snapshotBytes)
    let room: Room
    try {
      room = this.#host.room(name)
    } catch (error) {
      // A room this node cannot host (over maxRooms, a bad name) is refused alone: the link
      // and every other room keep syncing.
      if (!(error instanceof MeshError)) throw error
      this.#host.logger.warn('refusing a room from a peer', { peer: this.peerId, room: name, reason: error.message })
      this.#host.metrics.failed('room-refused')
      this.sendFrame(encodePeer.hold(name, ''))
      return
    }
    if (resolution !== 'none' && this.peerId) this.#host.resolvedByPeer(this.peerId, name)
    let sync = this.#rooms.get(name)
    if (!sync || sync.gotState) {
      room.removeLink(this)
      sync = freshSync()
      this.#rooms.set(name, sync)
    }
    if (!sync.sentState) {
      sync.sentState = true
      this.sendFrame(encodePeer.state(name, room.encodeSnapshot()))
    }
    sync.gotState = true
    sync.remoteSnapshot = remoteSnapshot
    const relation = compareSnapshots(Y.snapshot(room.doc), remoteSnapshot)
    sync.relation = relation
    // A room quarantined on this node takes nothing from any link and gives nothing, so no
    // third node can carry the diverged writes around the quarantine.
    if (this.#host.quarantined(name) && sync.override === 'none' && resolution === 'none') {
      return this.#hold(name, sync, '')
    }
    if (relation === 'equal') {
      sync.incoming = 'synced'
      this.#goLive(sync, room)
      return this.#host.progress()
    }
    const policy = this.#policy(sync, resolution)
    sync.policy = policy
    let changed = ''
    if (relation === 'diverged') {
      sync.localChanged = changedSince(room, remoteSnapshot)
      changed = encodeChanged(sync.localChanged)
    }
    if (relation === 'diverged' && policy === 'exception') return this.#hold(name, sync, changed)
    this.sendFrame(encodePeer.diff(name, this.#diffFor(room, remoteSnapshot), changed))
    this.#goLive(sync, room)
    if (relation === 'ahead') sync.incoming = 'synced'
    this.#host.progress()
  }

  #hold(name: string, sync: RoomSync, changed: string): void {
    sync.outgoing = 'held'
    sync.incoming = 'held'
    this.#host.existingRoom(name)?.removeLink(this)
    this.sendFrame(encodePeer.hold(name, changed))
    this.#host.progress()
  }

  /** Forgets a room this node unloaded; the peer holds it on this link until the room comes back. */
  dropRoom(name: string): void {
    this.#rooms.delete(name)
    this.#peerSnapshots.delete(name)
  }

  /**
   * The peer sends traffic for a room this node unloaded (or never synced on this link): it
   * still hosts the room, so the room comes back and syncs anew, here and on every link.
   */
  #revive(name: string): void {
    if (this.#rooms.has(name) || this.#state !== 'open') return
    const existing = this.#host.existingRoom(name)
    try {
      if (existing) this.startRoom(existing)
      else this.#host.room(name) // a new room starts a round on every link, this one included
    } catch (error) {
      if (!(error instanceof MeshError)) throw error
      this.#host.logger.warn('refusing a room from a peer', { peer: this.peerId, room: name, reason: error.message })
    }
  }

  /** Quarantines a room on this link because the node quarantined it (a conflict on another link). */
  holdRoom(name: string): void {
    const sync = this.#rooms.get(name)
    if (this.#state !== 'open' || !sync || sync.outgoing === 'held') return
    this.#hold(name, sync, '')
  }

  #diffFor(room: Room, remote: Y.Snapshot): Uint8Array {
    return Y.encodeStateAsUpdateV2(room.doc, Y.encodeStateVector(remote.sv))
  }

  #onDiff(name: string, update: Uint8Array, changed: string): void {
    const sync = this.#rooms.get(name)
    // A diff for a room this node unloaded meanwhile: sync it anew.
    if (!sync) return this.#revive(name)
    sync.remoteChanged = decodeChanged(changed)
    if (sync.outgoing === 'held') {
      if (sync.relation === 'diverged' && sync.policy === 'exception') this.#raiseConflict(name, sync)
      return
    }
    validateUpdate(update)
    const room = this.#host.room(name)
    if (!room.admit(update.length)) return this.#tooBig(room)
    room.applyState(update, this)
    sync.incoming = 'synced'
    if (sync.relation === 'diverged') {
      if (sync.policy === 'accept' && sync.remoteSnapshot) {
        yieldOwnWrites(room, {
          conflicts: conflictsBetween(sync.localChanged ?? new Map(), sync.remoteChanged).map((c) => c.key),
          remote: sync.remoteChanged,
          remoteSnapshot: sync.remoteSnapshot,
          clientId: this.#host.clientId,
          // Not this link: the write-back must reach this peer too.
          origin: new YieldOrigin(this.peerId),
        })
      }
      this.#report(name, room, sync)
    }
    this.#host.progress()
  }

  #onUpdates(name: string, updates: Uint8Array[]): void {
    const sync = this.#rooms.get(name)
    if (!sync) return this.#revive(name)
    if (sync.outgoing === 'held') return
    for (const update of updates) checkUpdate(update, 'v1')
    const room = this.#host.room(name)
    if (!room.admit(updates.reduce((n, u) => n + u.length, 0))) return this.#tooBig(room)
    room.doc.transact(() => {
      for (const update of updates) Y.applyUpdate(room.doc, update, this)
    }, this)
  }

  #onHold(name: string, changed: string): void {
    const sync = this.#rooms.get(name)
    if (!sync) return
    sync.remoteChanged = decodeChanged(changed)
    const wasHeld = sync.outgoing === 'held'
    sync.outgoing = 'held'
    sync.incoming = 'held'
    this.#host.existingRoom(name)?.removeLink(this)
    if (wasHeld) {
      if (sync.relation === 'diverged' && sync.policy === 'exception') this.#raiseConflict(name, sync)
    } else
      this.#host.logger.warn('peer quarantined a room until its application resolves it', {
        peer: this.peerId,
        room: name,
      })
    this.#host.progress()
  }

  /** Refuses a room that would outgrow `maxDocumentBytes`: that room is held on this link, the link stays. */
  #tooBig(room: Room): void {
    const sync = this.#rooms.get(room.name)
    this.#host.logger.warn('room would exceed the document limit; holding it on this link', {
      peer: this.peerId,
      room: room.name,
      maxBytes: room.maxBytes,
    })
    this.#host.metrics.failed('room-too-large')
    if (sync) this.#hold(room.name, sync, '')
  }

  #report(name: string, room: Room, sync: RoomSync): void {
    const conflicts = conflictsBetween(sync.localChanged ?? new Map(), sync.remoteChanged ?? new Map()).map((c) => ({
      ...c,
      winner: room.kv.entry(c.key)?.val,
    }))
    this.#host.merged({
      peer: this.peerId ?? '',
      room: name,
      relation: sync.relation ?? 'diverged',
      policy: sync.policy ?? this.#host.policy,
      conflicts,
    })
  }

  #raiseConflict(name: string, sync: RoomSync): void {
    if (sync.conflictRaised) return
    sync.conflictRaised = true
    const keys = conflictsBetween(sync.localChanged ?? new Map(), sync.remoteChanged ?? new Map())
    this.#host.conflict(new MeshConflictError({ peer: this.peerId ?? '', room: name, keys }))
  }
}
