import * as Y from 'yjs'
import { MeshConflictError, MeshError, type Logger, type Metrics } from '../common/index.js'
import { CheckAnswers, type CheckKind } from './check-answers.js'
import { compareSnapshots } from './compare.js'
import type { ConcurrentWrite } from '../store/index.js'
import { linkRoomStates, mergeReport, type LinkRoomStatus, type MergeReport } from './sync-reports.js'
import {
  changedSince,
  conflictsBetween,
  decodeChanged,
  encodeChanged,
  yieldOwnWrites,
  YieldOrigin,
  noChanges,
  type ConflictPolicy,
} from './conflict.js'
import { encodePeer, type FrameSegments, type Hello } from './peer-messages.js'
import type { Resolution } from './protocol.js'
import type { PeerSink, Room } from './room.js'
import { applyLive, checkLive } from './live-apply.js'
import { heldLosers, racesLost } from './lost-races.js'
import { dropPendingOverlapping, validateUpdate } from './update-validation.js'
import { encodeStateV2 } from './state-encoding.js'
import { EntryDecoderV2 } from './entry-coding.js'
import { decodeSnapshot } from './empty-state.js'
import { freshSync, type RoomSync } from './sync-round.js'

export type { LinkRoomState, LinkRoomStatus, MergeReport } from './sync-reports.js'

/** What the room sync of a link needs of the node (a part of the link's host). */
export interface SyncHost {
  readonly clientId: number
  readonly policy: ConflictPolicy
  readonly logger: Logger
  readonly metrics: Metrics
  /** Returns the room, creating it (and announcing it to every link) if needed. */
  room(name: string): Room
  existingRoom(name: string): Room | undefined
  /** Every room this node holds now. */
  rooms(): Iterable<Room>
  /** True while the room is quarantined on this node (`exception`): nothing crosses any link. */
  quarantined(room: string): boolean
  /** The peer's application resolved a conflict with this node (`remote`: its snapshot): clear it here too. */
  resolvedByPeer(peer: string, room: string, remote: Y.Snapshot): void
  /** How `remote` stands against `local` and what resolutions settled (conflicts.ts `settled`). */
  settled(room: string, local: Y.Snapshot, remote: Y.Snapshot): 'settled' | 'wait' | 'new'
  /** Runs `resume` once no resolution round for `room` is under way. */
  waitFor(room: string, resume: () => void): void
  /** A round a resolution started with `peer` applied its state: what it brought is settled. */
  settle(room: string, peer: string | undefined, remote: Y.Snapshot): void
  /** Reports writes concurrent with this node's own: the races a resync brought that it lost (lost-races.ts). */
  concurrent(room: Room, writes: ConcurrentWrite[], origin: object): void
  merged(report: MergeReport): void
  conflict(error: MeshConflictError, remote?: Y.Snapshot): void
  /** Something about this link's sync progress changed. */
  progress(): void
}

/** The link a room sync runs on: the origin of what it applies, and where it sends. */
export interface SyncLink extends PeerSink {
  readonly peerId: string | undefined
  readonly role: 'dialer' | 'acceptor'
  readonly remote: Hello | undefined
  /** True once the handshake is done and until the link closes. */
  readonly isOpen: boolean
  /** Bytes its socket still holds unsent. */
  readonly unsentBytes: number
  /** Sends a frame, or one given as segments (a whole state: see `encodePeer.diffSegments`). */
  sendFrame(frame: Uint8Array<ArrayBuffer> | FrameSegments): void
}

/**
 * The rooms of one peer link: each room's (re)sync with the conflict policy (state, diff,
 * hold), live updates, and the anti-entropy checks and repairs while it is live (their answers
 * are `CheckAnswers`'s).
 */
export class RoomSyncs {
  #link: SyncLink
  #host: SyncHost
  #rooms = new Map<string, RoomSync>()
  #checks: CheckAnswers
  #started = false

  constructor(link: SyncLink, host: SyncHost) {
    this.#link = link
    this.#host = host
    this.#checks = new CheckAnswers({ link, host, live: (room) => this.#live(room) })
  }

  /** True once every room started syncing ({@link startAll}) finished its initial sync (or is quarantined). */
  get settled(): boolean {
    // The link is announced (linkUp) before its rooms start: with none syncing yet it is not synced.
    if (!this.#started) return false
    for (const sync of this.#rooms.values()) if (sync.incoming === 'pending') return false
    return true
  }

  /** Stops relaying every room to this link (it closed). */
  clear(): void {
    this.#checks.clear()
    for (const name of this.#rooms.keys()) this.#host.existingRoom(name)?.removeLink(this.#link)
    this.#rooms.clear()
    // Every room, not only those synced on this link: awareness is applied to any room that exists.
    for (const room of this.#host.rooms()) room.dropLinkAwareness(this.#link)
  }

  /** Per-room sync state, history relation and the peers the peer said it is synced with, for status reports. */
  roomStates(): Record<string, LinkRoomStatus> {
    return linkRoomStates(this.#rooms, (room) => this.#host.existingRoom(room)?.announcedBy(this.#link) ?? [])
  }
  /** Starts syncing every room of the node on the link that just opened. */
  startAll(rooms: readonly Room[], resolution: (room: string) => Resolution): void {
    for (const room of rooms) this.startRoom(room, resolution(room.name))
    this.#started = true
    this.#host.progress()
  }
  /** Starts a (re)sync round for a room: sends this side's state. */
  startRoom(room: Room, resolution: Resolution = 'none'): void {
    if (!this.#link.isOpen) return
    this.#host.existingRoom(room.name)?.removeLink(this.#link)
    const sync = freshSync(resolution)
    sync.sentState = true
    this.#rooms.set(room.name, sync)
    this.#link.sendFrame(encodePeer.state(room.name, room.encodeSnapshot(), resolution))
    this.#host.progress()
  }
  /**
   * Sends an anti-entropy check for a room if it is live on this link: a `round`'s only when
   * due (see `CheckAnswers`); an `ask` always, and the peer answers with its snapshot at once
   * (see {@link holds}). False when nothing went out.
   */
  sendCheck(room: string, snapshot: Uint8Array, kind: CheckKind = 'round'): boolean {
    if (!this.#live(room) || (kind === 'round' && !this.#checks.roundDue(room, snapshot))) return false
    this.#link.sendFrame(encodePeer.check(room, snapshot, kind === 'ask'))
    return true
  }
  /** True when the peer's last reported snapshot of `room` holds everything in `target`. */
  holds(room: string, target: Y.Snapshot): boolean {
    return this.#checks.holds(room, target)
  }
  /** True while a round that a resolution started for `room` has not applied the peer's state yet. */
  resolving(room: string): boolean {
    const sync = this.#rooms.get(room)
    return sync !== undefined && (sync.override !== 'none' || sync.resolving === true) && sync.incoming === 'pending'
  }
  #live(room: string): boolean {
    const sync = this.#rooms.get(room)
    return this.#link.isOpen && sync?.outgoing === 'live' && sync.incoming === 'synced'
  }
  onCheck(name: string, snapshotBytes: Uint8Array, reply: boolean): void {
    const room = this.#host.existingRoom(name)
    const theirs = decodeSnapshot(snapshotBytes)
    // An unloaded room comes back once the peer's copy holds something.
    if (!this.#rooms.has(name) && theirs.sv.size > 0) return this.#revive(name)
    if (!room || !this.#live(name)) return
    this.#checks.onCheck(room, theirs, reply)
  }
  onRepair(name: string, update: Uint8Array): void {
    if (!this.#rooms.has(name)) return this.#revive(name)
    if (!this.#live(name)) return
    const room = this.#host.room(name)
    validateUpdate(room.doc, update)
    if (!room.admit(update.length)) return this.#tooBig(room)
    this.#host.metrics.repairsReceived++
    dropPendingOverlapping(room.doc, update, 'v2')
    Y.applyUpdateV2(room.doc, update, this.#link, EntryDecoderV2)
  }
  #policy(sync: RoomSync, remoteResolution: Resolution, settled: () => string): ConflictPolicy | 'wait' {
    if (sync.override !== 'none') return sync.override
    // The remote's application chose: merge, or adopt our state; either way we merge.
    if (remoteResolution !== 'none') return 'merge'
    if (this.#host.policy !== 'exception') return this.#host.policy
    // What the peer has beyond this node a resolution already settled: no new conflict.
    const judged = settled()
    return judged === 'settled' ? 'merge' : judged === 'wait' ? 'wait' : 'exception'
  }
  #sync(name: string): RoomSync {
    const sync = this.#rooms.get(name)
    if (!sync) throw new Error(`room "${name}" was not synced on this link`)
    return sync
  }
  #goLive(sync: RoomSync, room: Room): void {
    sync.outgoing = 'live'
    room.addLink(this.#link)
    this.#settle(sync, room)
  }
  /** Once synced both ways, the room tells its other links (relay-horizon.ts). */
  #settle(sync: RoomSync, room: Room): void {
    if (sync.outgoing === 'live' && sync.incoming === 'synced') room.linkSynced(this.#link)
  }
  onState(name: string, snapshotBytes: Uint8Array, resolution: Resolution): void {
    const remoteSnapshot = decodeSnapshot(snapshotBytes)
    let room: Room
    try {
      room = this.#host.room(name)
    } catch (error) {
      // A room this node cannot host (over maxRooms, a bad name) is refused alone: the link
      // and every other room keep syncing.
      if (!(error instanceof MeshError)) throw error
      this.#host.logger.warn('refusing a room from a peer', {
        peer: this.#link.peerId,
        room: name,
        reason: error.message,
      })
      this.#host.metrics.failed('room-refused')
      this.#link.sendFrame(encodePeer.hold(name, ''))
      return
    }
    if (resolution !== 'none' && this.#link.peerId) this.#host.resolvedByPeer(this.#link.peerId, name, remoteSnapshot)
    let sync = this.#rooms.get(name)
    if (!sync || sync.gotState) {
      room.removeLink(this.#link)
      sync = freshSync()
      this.#rooms.set(name, sync)
    }
    if (!sync.sentState) {
      sync.sentState = true
      this.#link.sendFrame(encodePeer.state(name, room.encodeSnapshot()))
    }
    sync.gotState = true
    sync.remoteSnapshot = remoteSnapshot
    sync.resolving = sync.override !== 'none' || resolution !== 'none'
    const local = room.snapshot()
    const relation = compareSnapshots(local, remoteSnapshot)
    sync.relation = relation
    // A room quarantined on this node takes nothing from any link and gives nothing, so no
    // third node can carry the diverged writes around the quarantine.
    if (this.#host.quarantined(name) && sync.override === 'none' && resolution === 'none') {
      return this.#hold(name, sync, '')
    }
    if (relation === 'equal') {
      if (sync.resolving) this.#host.settle(name, this.#link.peerId, remoteSnapshot)
      sync.remoteSnapshot = undefined
      sync.incoming = 'synced'
      this.#goLive(sync, room)
      return this.#host.progress()
    }
    const policy = this.#policy(sync, resolution, () => this.#host.settled(name, local, remoteSnapshot))
    if (policy === 'wait') {
      this.#host.waitFor(name, () => this.startRoom(room))
      return this.#hold(name, sync, '')
    }
    sync.policy = policy
    if (relation === 'diverged') sync.localChanged = changedSince(room, remoteSnapshot)
    // With any diff, the races this node resolved that the peer has not seen (lost-races.ts).
    const changed = encodeChanged(sync.localChanged ?? noChanges(), room.kv.lostRacesUnseenBy(remoteSnapshot))
    if (relation === 'diverged' && policy === 'exception') return this.#hold(name, sync, changed)
    this.#link.sendFrame(encodePeer.diffSegments(name, this.#diffFor(room, remoteSnapshot), changed))
    this.#goLive(sync, room)
    if (relation === 'ahead') {
      sync.incoming = 'synced'
      this.#settle(sync, room)
    }
    this.#host.progress()
  }
  #hold(name: string, sync: RoomSync, changed: string): void {
    sync.outgoing = 'held'
    sync.incoming = 'held'
    this.#host.existingRoom(name)?.removeLink(this.#link)
    this.#link.sendFrame(encodePeer.hold(name, changed))
    this.#host.progress()
  }
  /** Forgets a room this node unloaded; the peer holds it on this link until the room comes back. */
  dropRoom(name: string): void {
    this.#rooms.delete(name)
    this.#checks.dropRoom(name)
  }
  /**
   * The peer sends traffic for a room this node unloaded (or never synced on this link): it
   * still hosts the room, so the room comes back and syncs anew, here and on every link.
   */
  #revive(name: string): void {
    if (this.#rooms.has(name) || !this.#link.isOpen) return
    const existing = this.#host.existingRoom(name)
    try {
      if (existing) this.startRoom(existing)
      else this.#host.room(name) // a new room starts a round on every link, this one included
    } catch (error) {
      if (!(error instanceof MeshError)) throw error
      this.#host.logger.warn('refusing a room from a peer', {
        peer: this.#link.peerId,
        room: name,
        reason: error.message,
      })
    }
  }
  /** Quarantines a room on this link because the node quarantined it (a conflict on another link). */
  holdRoom(name: string): void {
    const sync = this.#rooms.get(name)
    if (!this.#link.isOpen || !sync || sync.outgoing === 'held') return
    this.#hold(name, sync, '')
  }
  #diffFor(room: Room, remote: Y.Snapshot): Uint8Array {
    return encodeStateV2(room.doc, Y.encodeStateVector(remote.sv))
  }
  onDiff(name: string, update: Uint8Array, changed: string): void {
    const sync = this.#rooms.get(name)
    // A diff for a room this node unloaded meanwhile: sync it anew.
    if (!sync) return this.#revive(name)
    const { changed: remoteChanged, lost } = decodeChanged(changed)
    sync.remoteChanged = remoteChanged
    if (sync.outgoing === 'held') {
      if (sync.relation === 'diverged' && sync.policy === 'exception') this.#raiseConflict(name, sync)
      return
    }
    const room = this.#host.room(name)
    validateUpdate(room.doc, update)
    if (!room.admit(update.length)) return this.#tooBig(room)
    const losers = heldLosers(room.kv, lost)
    dropPendingOverlapping(room.doc, update, 'v2')
    room.applyState(update, this.#link, sync.relation === 'diverged')
    const races = racesLost(room.kv, losers, this.#host.clientId)
    if (races.length > 0) this.#host.concurrent(room, races, this.#link)
    if (sync.resolving && sync.remoteSnapshot) this.#host.settle(name, this.#link.peerId, sync.remoteSnapshot)
    sync.incoming = 'synced'
    this.#settle(sync, room)
    if (sync.relation === 'diverged') {
      // The `accept` policy needs nothing here: its writes are marked to lose to concurrent ones
      // wherever they meet (KvIndex). An application that resolves an `exception` quarantine
      // with `accept` makes unmarked writes yield, so they are written back once, here.
      if (sync.override === 'accept' && sync.remoteSnapshot) {
        yieldOwnWrites(room, {
          conflicts: conflictsBetween(sync.localChanged ?? noChanges(), sync.remoteChanged).map((c) => c.key),
          remote: sync.remoteChanged,
          remoteSnapshot: sync.remoteSnapshot,
          clientId: this.#host.clientId,
          // Not this link: the write-back must reach this peer too.
          origin: new YieldOrigin(this.#link.peerId),
        })
      }
      this.#report(name, room, sync)
    }
    // The round is over: a decoded snapshot holds every client that ever wrote (a few hundred
    // bytes each), per room and link, and nothing reads it until the next round brings its own.
    sync.remoteSnapshot = undefined
    this.#host.progress()
  }
  onUpdates(name: string, updates: Uint8Array[]): void {
    const sync = this.#rooms.get(name)
    if (!sync) return this.#revive(name)
    if (sync.outgoing === 'held') return
    const room = this.#host.room(name)
    const { fresh, bytes, waits } = checkLive(room.doc, updates, this.#host.metrics)
    if (fresh.length === 0) return
    if (!room.admit(bytes)) return this.#tooBig(room)
    applyLive({ room, updates: fresh, origin: this.#link, waits, host: this.#host })
  }
  /** The peers the peer is synced with for a room; a state vector asks for what it lacks (relay-horizon.ts). */
  onRelays(name: string, peers: string[], want: Uint8Array): void {
    const room = this.#host.existingRoom(name)
    // Kept per link while the room syncs on it, forgotten when it stops (Room.removeLink).
    if (!room || !this.#rooms.has(name)) return
    room.heard(this.#link, peers)
    if (want.length === 0 || !this.#live(name)) return
    this.#host.metrics.repairsSent++
    this.#link.sendFrame(encodePeer.repairSegments(name, encodeStateV2(room.doc, want)))
  }
  onHold(name: string, changed: string): void {
    const sync = this.#rooms.get(name)
    if (!sync) return
    sync.remoteChanged = decodeChanged(changed).changed
    const wasHeld = sync.outgoing === 'held'
    sync.outgoing = 'held'
    sync.incoming = 'held'
    this.#host.existingRoom(name)?.removeLink(this.#link)
    if (wasHeld) {
      if (sync.relation === 'diverged' && sync.policy === 'exception') this.#raiseConflict(name, sync)
    } else
      this.#host.logger.warn('peer quarantined a room until its application resolves it', {
        peer: this.#link.peerId,
        room: name,
      })
    this.#host.progress()
  }
  /** Refuses a room that would outgrow `maxDocumentBytes`: that room is held on this link, the link stays. */
  #tooBig(room: Room): void {
    const sync = this.#rooms.get(room.name)
    this.#host.logger.warn('room would exceed the document limit; holding it on this link', {
      peer: this.#link.peerId,
      room: room.name,
      maxBytes: room.maxBytes,
    })
    this.#host.metrics.failed('room-too-large')
    if (sync) this.#hold(room.name, sync, '')
  }
  #report(name: string, room: Room, sync: RoomSync): void {
    this.#host.merged(mergeReport({ peer: this.#link.peerId ?? '', room, sync, policy: this.#host.policy }))
  }
  #raiseConflict(name: string, sync: RoomSync): void {
    if (sync.conflictRaised) return
    sync.conflictRaised = true
    const keys = conflictsBetween(sync.localChanged ?? noChanges(), sync.remoteChanged ?? noChanges())
    this.#host.conflict(new MeshConflictError({ peer: this.#link.peerId ?? '', room: name, keys }), sync.remoteSnapshot)
  }
}
