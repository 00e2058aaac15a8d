import { errorText } from '../common/index.js'
import type { Logger, Metrics } from '../common/index.js'
import {
  lightMembers,
  MAX_GOSSIP_RECORDS,
  parseGossip,
  type MemberRecord,
  type Membership,
} from '../membership/index.js'
import { applyBackboneUpdate, missingFrom, PeerLink, type Room, type Rooms } from '../replication/index.js'
import type { Backbone, BackboneHost, UpdateSource } from './backbone.js'
import { BackboneAwareness } from './backbone-awareness.js'

/** What the bridge reads of the node. */
interface BridgeCore {
  readonly id: string
  readonly name: string
  readonly logger: Logger
  readonly closed: boolean
}

/** The node's parts the bridge uses. */
interface BridgeParts {
  readonly rooms: Rooms
  readonly membership: Membership
  readonly counters: Metrics
  guard(where: string, work: () => void): void
}

/** Transaction origin of updates read from the backbone: they are never handed back to it. */
export class BackboneOrigin {
  readonly kind = 'backbone'
}

type UpdateListener = (room: string, update: Uint8Array, source: UpdateSource) => void

/** Periodic work the node hands the bridge to run on its heartbeat rather than on a timer of its own. */
export interface HeartbeatWork {
  /** One anti-entropy round over the node's peer links. */
  antiEntropy(): void
  /** Least time between two anti-entropy rounds, ms. */
  antiEntropyMs: number
}

const LOCAL: UpdateSource = { kind: 'local' }

/**
 * The node's side of a backbone: it watches every room's doc for updates to hand over,
 * applies what the backbone reads with a {@link BackboneOrigin}, and exposes membership.
 */
export class BackboneBridge {
  readonly origin = new BackboneOrigin()
  readonly host: BackboneHost
  #parts: BridgeParts
  #transport: Backbone
  #logger: Logger
  #roomListeners = new Set<(room: string) => void>()
  #updateListeners = new Set<UpdateListener>()
  #heartbeatListeners = new Set<(now: number) => void>()
  #work: HeartbeatWork | undefined
  #lastAntiEntropy = 0
  #watched = new WeakSet<Room>()
  #awareness: BackboneAwareness

  constructor(core: BridgeCore, parts: BridgeParts, transport: Backbone) {
    this.#parts = parts
    this.#transport = transport
    this.#logger = core.logger
    const awareness = (this.#awareness = new BackboneAwareness(parts.rooms, (where, work) => parts.guard(where, work)))
    const room = (name: string): Room | undefined => (core.closed ? undefined : parts.rooms.existing(name))
    this.host = {
      id: core.id,
      name: core.name,
      logger: core.logger,
      get heartbeatMs() {
        return parts.membership.heartbeatMs
      },
      get deadAfterMs() {
        return parts.membership.deadAfterMs
      },
      get closed() {
        return core.closed
      },
      rooms: () => (core.closed ? [] : parts.rooms.names()),
      openRoom: (name) => {
        if (!core.closed) parts.rooms.room(name)
      },
      onRoom: (listener) => this.#subscribe(this.#roomListeners, listener),
      onUpdate: (listener) => this.#subscribe(this.#updateListeners, listener),
      onHeartbeat: (listener) => this.#subscribe(this.#heartbeatListeners, listener),
      apply: (name, update, format) => {
        if (core.closed) return
        applyBackboneUpdate(parts.rooms.room(name), { update, format }, this.origin)
      },
      encodeState: (name) => {
        const r = room(name)
        if (!r) return undefined
        parts.rooms.existingStore(name)?.flush()
        return missingFrom(r, [])
      },
      missingFrom: (name, view) => {
        const r = room(name)
        if (!r) return undefined
        parts.rooms.existingStore(name)?.flush()
        return missingFrom(r, view)
      },
      pending: (name) => room(name)?.pending ?? false,
      self: () => ({ ...parts.membership.self }),
      receiveMembers: (records) => {
        if (core.closed) return
        const one = (record: unknown) => {
          try {
            return parseGossip(JSON.stringify([record]))
          } catch {
            parts.counters.failed('backbone-member-record')
            return []
          }
        }
        // All in one parse, as they usually are all valid; one by one to leave out the malformed.
        let valid: MemberRecord[]
        try {
          valid = records.length <= MAX_GOSSIP_RECORDS ? parseGossip(JSON.stringify(records)) : records.flatMap(one)
        } catch {
          valid = records.flatMap(one)
        }
        parts.membership.receive(valid, Date.now())
      },
      removeEphemeral: (owner) => {
        if (core.closed) return 0
        let removed = 0
        for (const name of parts.rooms.names()) {
          removed += parts.rooms.storeOf(name).sweep(Date.now(), (o) => o === owner).length
        }
        return removed
      },
      lightMembers: () => {
        const rooms = [...parts.rooms.values()]
        return lightMembers(rooms).filter((m) => {
          const r = typeof m.meta.room === 'string' ? parts.rooms.existing(m.meta.room) : undefined
          return r?.ownedByLight(Number(m.id.slice('light:'.length))) ?? false
        })
      },
      onAwareness: (listener) => awareness.subscribe(listener),
      lightAwareness: (name) => (core.closed ? undefined : awareness.lightStates(name)),
      applyAwareness: (name, update, fromNode) => (core.closed ? 0 : awareness.apply(name, update, fromNode)),
      dropAwareness: (fromNode) => (core.closed ? 0 : awareness.drop(fromNode)),
      count: (where) => parts.counters.failed(where),
    }
  }

  /**
   * Watches the rooms that exist already, then starts the backbone. `work` runs from
   * {@link heartbeat}: with the backbone's own heartbeat there, an idle node wakes once per heartbeat.
   */
  start(rooms: Iterable<Room>, work: HeartbeatWork): void {
    this.#work = work
    this.#lastAntiEntropy = Date.now()
    for (const room of rooms) this.created(room)
    this.#transport.start(this.host)
  }

  /** The node's heartbeat: the anti-entropy round and the awareness check when due, then the backbone's listeners. */
  heartbeat(now: number): void {
    const work = this.#work
    if (work && now - this.#lastAntiEntropy >= work.antiEntropyMs) {
      this.#lastAntiEntropy = now
      work.antiEntropy()
    }
    this.#parts.guard('awareness-check', () => this.#awareness.checkOutdated(now))
    for (const listener of this.#heartbeatListeners) this.#parts.guard('backbone-heartbeat', () => listener(now))
  }

  /** Closes the backbone (after the node's last writes and its leave record); a failure is logged. */
  async close(): Promise<void> {
    try {
      await this.#transport.close()
    } catch (error) {
      this.#logger.warn('backbone failed to close', { error: errorText(error) })
    }
  }

  #subscribe<T>(set: Set<T>, listener: T): () => void {
    set.add(listener)
    return () => set.delete(listener)
  }

  /** A room was created on this node: watch its updates and tell the backbone. */
  created(room: Room): void {
    if (this.#watched.has(room)) return
    this.#watched.add(room)
    this.#awareness.watch(room)
    room.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === this.origin || this.#updateListeners.size === 0) return
      const source: UpdateSource = origin instanceof PeerLink ? { kind: 'peer', peer: origin.peerId ?? '' } : LOCAL
      for (const listener of this.#updateListeners) {
        this.#parts.guard('backbone-update', () => listener(room.name, update, source))
      }
    })
    for (const listener of this.#roomListeners) this.#parts.guard('backbone-room', () => listener(room.name))
  }
}
