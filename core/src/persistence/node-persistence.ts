import { CloseCode, type Connection, type Logger, type MeshSocket, errorText } from '../common/index.js'
import {
  RoomPersistence,
  type CompactionOptions,
  type PersistedRoom,
  type PersistenceCounters,
} from './room-persistence.js'
import type { StorageAdapter, StorageStats } from './storage-adapter.js'

/** What persistence reads of the node around it. */
export interface PersistenceHost {
  readonly logger: Logger
  /** Returns a room, creating it (and so attaching it here) if needed. */
  room(name: string): PersistedRoom
}

/** Persistence figures for status and metrics. */
export interface PersistenceStatus extends PersistenceCounters {
  rooms: number
  /** Bytes of logs since their snapshots, and of the snapshots, over all rooms. */
  logBytes: number
  snapshotBytes: number
  /** How long loading every room took at start, in ms. */
  loadMs: number
  storage: StorageStats
}

/**
 * A node's persistence: attaches a {@link RoomPersistence} to every room it hosts, loads every
 * stored room before the node serves or syncs, and closes the adapter with the node.
 */
export class NodePersistence {
  #adapter: StorageAdapter
  #host: PersistenceHost
  #compaction: CompactionOptions | undefined
  #rooms = new Map<string, RoomPersistence>()
  #loaded = false
  #loadMs = 0
  readonly counters: PersistenceCounters = {
    appends: 0,
    appendFailures: 0,
    appendedBytes: 0,
    compactions: 0,
    compactionFailures: 0,
    lastCompactionAt: 0,
    lastCompactionMs: 0,
    skippedRecords: 0,
  }

  constructor(options: { adapter: StorageAdapter; host: PersistenceHost; compaction?: CompactionOptions }) {
    this.#adapter = options.adapter
    this.#host = options.host
    this.#compaction = options.compaction
  }

  /** True once every stored room is loaded. */
  get loaded(): boolean {
    return this.#loaded
  }

  /** Starts storing a room's updates (every room, from when it loads: before anything is applied to it). */
  attach(room: PersistedRoom): void {
    // First: reading the doc loads the room, and the node attaches each room as it loads.
    const doc = room.doc
    if (this.#rooms.has(room.name)) return
    this.#rooms.set(
      room.name,
      new RoomPersistence({
        name: room.name,
        doc,
        adapter: this.#adapter,
        logger: this.#host.logger,
        counters: this.counters,
        compaction: this.#compaction,
      }),
    )
  }

  /** Stops storing a room the node unloaded (it held nothing). */
  detach(name: string): void {
    void this.#rooms.get(name)?.close()
    this.#rooms.delete(name)
  }

  /** Loads every stored room into the node, creating the rooms. */
  async load(): Promise<void> {
    const started = Date.now()
    for (const name of await this.#adapter.rooms()) {
      const room = this.#host.room(name)
      this.attach(room)
      await this.#rooms.get(name)?.load(room)
    }
    this.#loadMs = Date.now() - started
    this.#loaded = true
  }

  /** Resolves once every update of `room` applied so far is stored (see RoomPersistence.durable). */
  durable(room: string): Promise<void> {
    return this.#rooms.get(room)?.durable() ?? Promise.resolve()
  }

  /** Folds every room's log into its snapshot now. */
  async compact(): Promise<void> {
    await Promise.all([...this.#rooms.values()].map((room) => room.compact()))
  }

  /** Figures for `node.status().persistence` and the `mesh_storage_*` metrics. */
  status(): PersistenceStatus {
    let logBytes = 0
    let snapshotBytes = 0
    for (const room of this.#rooms.values()) {
      logBytes += room.sizes.log
      snapshotBytes += room.sizes.snapshot
    }
    return {
      ...this.counters,
      rooms: this.#rooms.size,
      logBytes,
      snapshotBytes,
      loadMs: this.#loadMs,
      storage: this.#adapter.stats?.() ?? {},
    }
  }

  /** Waits for what is in flight, then closes the adapter; a failure is logged (the node is closing anyway). */
  async close(): Promise<void> {
    try {
      await Promise.all([...this.#rooms.values()].map((room) => room.close()))
      await this.#adapter.close()
    } catch (error) {
      this.#host.logger.error('could not close storage', { error: errorText(error) })
    }
  }
}

/**
 * Turns a socket away while the node still loads its rooms: 1013 (Try Again Later), so peers
 * and stock clients reconnect with backoff and find the loaded state.
 */
export const refuseWhileLoading = (socket: MeshSocket): Connection => {
  socket.close(CloseCode.tryAgainLater, 'node is loading its data, try again')
  return { receive: () => {}, close: () => {} }
}
