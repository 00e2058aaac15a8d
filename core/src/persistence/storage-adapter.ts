/**
 * What a room's storage holds: the last compacted snapshot (a Yjs V2 update of the whole
 * room) and the log of updates appended after it (Yjs V1 updates, as the doc emits them), in
 * the order they were appended.
 */
export interface StoredRoom {
  snapshot: Uint8Array | undefined
  updates: Uint8Array[]
  /** Records the adapter found torn or corrupt and left out (a crash mid-write). */
  skipped?: number
}

/** Counters an adapter may report for metrics and status. */
export interface StorageStats {
  /** Bytes the adapter holds on disk (or in memory), if it knows. */
  bytes?: number
  /** Durable writes (fsyncs) done so far, and their total and last latency in ms. */
  syncs?: number
  syncMsTotal?: number
  lastSyncMs?: number
}

/**
 * Where a node keeps its rooms across restarts (DESIGN §9): per room, an append-only log of
 * updates plus one compacted snapshot. Calls on one room take effect in the order they were
 * made (an append made before a `compact` is covered by it; one made after is not), and
 * every promise rejects on failure rather than throwing synchronously.
 *
 * Every adapter passes `runStorageTests` from `@mesh/core/testing`.
 *
 * @example
 * const node = new MeshNode({ persistence: new LevelStorage({ dir: './data' }) })
 * await node.ready()
 */
export interface StorageAdapter {
  /**
   * Appends updates to the room's log. Resolves once they are stored as the adapter's
   * durability policy promises (under an `always` fsync policy: on disk).
   */
  append(room: string, updates: readonly Uint8Array[]): Promise<void>
  /** The room's snapshot and the log appended after it; an unknown room is empty. */
  load(room: string): Promise<StoredRoom>
  /**
   * Atomically replaces the room's snapshot with `snapshot` (a V2 update) and drops every
   * update appended before this call: the snapshot covers them. Updates appended after the
   * call stay. If it fails, the room is left as it was.
   */
  compact(room: string, snapshot: Uint8Array): Promise<void>
  /** Names of the rooms that hold anything. */
  rooms(): Promise<string[]>
  /** Writes what is pending and releases the store; later calls reject. */
  close(): Promise<void>
  /** Counters for metrics (optional). */
  stats?(): StorageStats
}
