import { MeshError, type Logger } from '../common/index.js'
import { DEFAULT_ROOM, MeshStore } from '../store/index.js'
import type { CommitLog } from './history.js'
import { Room, type RoomEnv, type RoomHooks } from './room.js'

/** Room names that would collide with the endpoints under the base path; `_` starts system feeds. */
const RESERVED_ROOMS = new Set(['api', 'inspector'])

const ROOM_NAME = /^[A-Za-z0-9.~:@!$'()*+,;=-][A-Za-z0-9._~:@!$'()*+,;=-]{0,127}$/

/** What the room registry needs of the node around it. */
export interface RoomsHost {
  readonly clientId: number
  readonly log: CommitLog
  readonly hooks: RoomHooks
  readonly maxRooms: number
  readonly maxDocumentBytes: number
  readonly logger: Logger
  /** Throws once the node is closed. */
  assertOpen(): void
  /** Makes the store of a new room (origin and owner of this node's writes). */
  makeStore(room: Room): MeshStore
  /** A room was created: start it on every link. */
  created(room: Room): void
  /**
   * A room loaded (its doc was created), before anything was applied to it. A room that never
   * loads (opened by a light peer and left empty) holds nothing to store.
   */
  loaded?(room: Room): void
  /** An idle room was unloaded: drop it on every link. */
  unloaded(name: string): void
}

/** The rooms a node hosts, each with its key/value store, and the unloading of idle ones. */
export class Rooms {
  #host: RoomsHost
  /** What every room shares (room.ts). */
  #env: RoomEnv
  #rooms = new Map<string, Room>()
  #stores = new Map<string, MeshStore>()
  /** Rooms whose store the application asked for. */
  #held = new Set<string>()

  constructor(host: RoomsHost) {
    this.#host = host
    this.#env = {
      clientId: host.clientId,
      log: host.log,
      hooks: host.hooks,
      maxBytes: host.maxDocumentBytes,
      onLoad: (room) => this.#loaded(room),
    }
  }

  get size(): number {
    return this.#rooms.size
  }

  /** Returns a room, creating it and announcing it to every peer if needed. */
  room(name: string): Room {
    const existing = this.#rooms.get(name)
    if (existing) return existing
    const host = this.#host
    host.assertOpen()
    if (!ROOM_NAME.test(name) || RESERVED_ROOMS.has(name)) {
      throw new MeshError('bad_request', `"${name.slice(0, 40)}" is not a valid room name`)
    }
    if (this.#rooms.size >= host.maxRooms) {
      throw new MeshError('too_large', `room limit of ${host.maxRooms} reached`)
    }
    const room = new Room(name, this.#env)
    this.#rooms.set(name, room)
    host.created(room)
    return room
  }

  existing(name: string): Room | undefined {
    return this.#rooms.get(name)
  }

  values(): IterableIterator<Room> {
    return this.#rooms.values()
  }

  names(): string[] {
    return [...this.#rooms.keys()]
  }

  /** The store the application holds: its room is never unloaded under it. */
  held(name: string): MeshStore {
    this.#held.add(name)
    return this.storeOf(name)
  }

  /** The store of a room (created, and the room loaded, if needed). */
  storeOf(name: string): MeshStore {
    const existing = this.#stores.get(name)
    if (existing) return existing
    const room = this.room(name)
    // Loading the room makes its store (#loaded).
    room.load()
    let store = this.#stores.get(name)
    if (!store) {
      store = this.#host.makeStore(room)
      this.#stores.set(name, store)
    }
    return store
  }

  /** The stores of the loaded rooms: a room not loaded holds no key. */
  stores(): IterableIterator<[string, MeshStore]> {
    return this.#stores.entries()
  }

  /** Every loaded room gets its store at once: it must see the first sync (ownership of its keys). */
  #loaded(room: Room): void {
    if (this.#rooms.get(room.name) !== room || this.#stores.has(room.name)) return
    this.#stores.set(room.name, this.#host.makeStore(room))
    this.#host.loaded?.(room)
  }

  /** The store of an existing room, without creating anything. */
  existingStore(name: string): MeshStore | undefined {
    return this.#stores.get(name)
  }

  /** Applies the puts each store queued in this turn (see MeshStore.put). */
  flushStores(): void {
    for (const store of this.#stores.values()) store.flush()
  }

  /**
   * Bounds what would otherwise only grow: awareness clocks of clients gone for `idleMs`,
   * and rooms that hold nothing and serve nobody.
   */
  prune(now: number, idleMs: number): void {
    for (const [name, room] of this.#rooms) {
      if (room.loaded) {
        const { awareness } = room
        for (const [clientId, meta] of awareness.meta) {
          // This node's own clock stays: its next state must count as newer everywhere.
          if (clientId === awareness.clientID || awareness.states.has(clientId)) continue
          if (now - meta.lastUpdated > idleMs) awareness.meta.delete(clientId)
        }
      }
      if (this.#unused(name, room) && now - room.lastActive >= idleMs) this.#unload(name, room)
    }
  }

  /**
   * A light peer left `room`: when it was the last one and the room holds nothing (no content,
   * nobody's presence), it is unloaded now rather than after the idle time. Anyone may open
   * a room with a 160-byte upgrade; rooms opened and left empty would otherwise count toward
   * `maxRooms`, refusing new rooms to everyone, for a minute each.
   */
  left(room: Room): void {
    if (this.#rooms.get(room.name) !== room || !this.#unused(room.name, room)) return
    if (room.awarenessCount === 0) this.#unload(room.name, room)
  }

  /** True when nothing needs `room`: not `default`, not held, no light peer, no content. */
  #unused(name: string, room: Room): boolean {
    return !(
      name === DEFAULT_ROOM ||
      this.#held.has(name) ||
      room.lightCount > 0 ||
      (room.loaded && room.doc.store.clients.size > 0)
    )
  }

  #unload(name: string, room: Room): void {
    this.#rooms.delete(name)
    this.#stores.delete(name)
    this.#host.unloaded(name)
    room.destroy()
    this.#host.logger.debug('unloaded an empty idle room', { room: name })
  }

  /** Frees every room (the node is closing). */
  destroy(): void {
    for (const room of this.#rooms.values()) room.destroy()
  }
}
