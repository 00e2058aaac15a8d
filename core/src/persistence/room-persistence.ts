import * as Y from 'yjs'
import { MeshError, unrefTimer, type Logger, errorText } from '../common/index.js'
import { encodeStateV2 } from '../replication/index.js'
import type { StorageAdapter } from './storage-adapter.js'

/** Counters every room's persistence adds to (one set per node). */
export interface PersistenceCounters {
  appends: number
  appendFailures: number
  appendedBytes: number
  compactions: number
  compactionFailures: number
  /** When the last compaction finished, in ms since the epoch (0: none yet). */
  lastCompactionAt: number
  lastCompactionMs: number
  /** Torn or corrupt records skipped at load. */
  skippedRecords: number
}

/** A room as persistence needs it: its doc, and paths that apply a state (V2) and stored updates (V1) unencoded. */
export interface PersistedRoom {
  readonly name: string
  readonly doc: Y.Doc
  applyState(update: Uint8Array, origin: object): void
  applyStored(updates: readonly Uint8Array[], origin: object): void
}

/** When the log is worth folding into the snapshot. */
export interface CompactionOptions {
  /** Compact once the log holds more than this many bytes and more than the snapshot. Default 1 MiB. */
  minBytes?: number
  /** First retry delay after a failed compaction, doubled up to a minute. Default 1000 ms. */
  retryMs?: number
}

const MAX_RETRY_MS = 60_000

/**
 * Keeps one room's document in a {@link StorageAdapter}: appends every update the doc emits
 * (local writes and remote ones alike) in order, and folds the log into a V2 snapshot in the
 * background once the log outweighs the snapshot. A failed compaction is retried with backoff
 * and never stops the appends: the log stays the source of truth until a compaction succeeds.
 */
export class RoomPersistence {
  readonly name: string
  #doc: Y.Doc
  #adapter: StorageAdapter
  #logger: Logger
  #counters: PersistenceCounters
  #minBytes: number
  #retryMs: number
  #logBytes = 0
  #snapshotBytes = 0
  /** The last append: it settles after every earlier one (adapters keep call order). */
  #last: Promise<void> = Promise.resolve()
  #compacting: Promise<void> | undefined
  #retry: ReturnType<typeof setTimeout> | undefined
  #failures = 0
  #closed = false

  constructor(options: {
    name: string
    doc: Y.Doc
    adapter: StorageAdapter
    logger: Logger
    counters: PersistenceCounters
    compaction?: CompactionOptions
  }) {
    this.name = options.name
    this.#doc = options.doc
    this.#adapter = options.adapter
    this.#logger = options.logger
    this.#counters = options.counters
    this.#minBytes = options.compaction?.minBytes ?? 1 << 20
    this.#retryMs = options.compaction?.retryMs ?? 1000
    this.#doc.on('update', this.#onUpdate)
  }

  /** Bytes in the log since the last snapshot, and the snapshot's size. */
  get sizes(): { log: number; snapshot: number } {
    return { log: this.#logBytes, snapshot: this.#snapshotBytes }
  }

  #onUpdate = (update: Uint8Array, origin: unknown): void => {
    // What the room loaded from storage is there already.
    if (origin === this || this.#closed) return
    this.#append(update)
  }

  #append(update: Uint8Array): void {
    const counters = this.#counters
    this.#logBytes += update.length
    counters.appends++
    counters.appendedBytes += update.length
    const appended = this.#adapter.append(this.name, [update])
    this.#last = appended
    appended.catch((error: unknown) => {
      counters.appendFailures++
      this.#logger.error('could not store an update', { room: this.name, error: errorText(error) })
    })
    this.#maybeCompact()
  }

  /**
   * Resolves once every update appended so far is stored as the adapter's policy promises;
   * rejects with a `storage_failed` MeshError if the last one could not be.
   */
  durable(): Promise<void> {
    return this.#last.then(undefined, (error: unknown) => {
      throw new MeshError('storage_failed', `room "${this.name}": the write was applied but not stored`, {
        cause: error,
      })
    })
  }

  /**
   * Applies what storage holds for this room: the snapshot, then the log in one transaction,
   * through the room's paths that spare re-encoding what nobody else receives. Writes made
   * before (the node was not ready yet) were appended as they happened: this listener is
   * attached from the room's creation.
   */
  async load(room: Pick<PersistedRoom, 'applyState' | 'applyStored'>): Promise<void> {
    const stored = await this.#adapter.load(this.name)
    this.#quietly(() => {
      if (stored.snapshot) room.applyState(stored.snapshot, this)
      room.applyStored(stored.updates, this)
    })
    this.#snapshotBytes = stored.snapshot?.length ?? 0
    // The loaded log includes what was appended before the load (adapters keep call order).
    this.#logBytes = stored.updates.reduce((sum, u) => sum + u.length, 0)
    if (stored.skipped) {
      this.#counters.skippedRecords += stored.skipped
      this.#logger.warn('skipped torn or corrupt records while loading', { room: this.name, records: stored.skipped })
    }
    this.#maybeCompact()
  }

  /**
   * Runs `load` without this listener: its mere presence makes Yjs encode every loaded
   * transaction once more (seconds at a million keys), only for it to ignore them. A
   * transaction of anything else (an app writing from a change listener, the index deleting
   * duplicates) brings it back before its update is emitted, so nothing escapes the log.
   */
  #quietly(load: () => void): void {
    const doc = this.#doc
    doc.off('update', this.#onUpdate)
    let listening = false
    const listen = (): void => {
      if (listening || this.#closed) return
      listening = true
      doc.on('update', this.#onUpdate)
    }
    const begin = (transaction: Y.Transaction): void => {
      if (transaction.origin !== this) listen()
    }
    doc.on('beforeTransaction', begin)
    try {
      load()
    } finally {
      doc.off('beforeTransaction', begin)
      listen()
    }
  }

  #maybeCompact(): void {
    if (this.#compacting || this.#retry || this.#closed) return
    if (this.#logBytes <= Math.max(this.#snapshotBytes, this.#minBytes)) return
    // Started from a fresh turn: never inside the transaction that emitted the update.
    void this.#track(new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#compact()))
  }

  /** Folds the log into a snapshot now, or waits for the compaction under way. */
  compact(): Promise<void> {
    return this.#compacting ?? this.#track(this.#compact())
  }

  #track(compacting: Promise<void>): Promise<void> {
    this.#compacting = compacting
    void compacting.finally(() => {
      if (this.#compacting === compacting) this.#compacting = undefined
    })
    return compacting
  }

  async #compact(): Promise<void> {
    const started = Date.now()
    try {
      if (this.#closed) return
      // Encoded and handed over in the same turn: every update emitted so far was appended before.
      // What the doc holds pending stays out: a restart would integrate it unchecked.
      const snapshot = encodeStateV2(this.#doc)
      const covered = this.#logBytes
      await this.#adapter.compact(this.name, snapshot)
      this.#snapshotBytes = snapshot.length
      this.#logBytes -= covered
      this.#failures = 0
      this.#counters.compactions++
      this.#counters.lastCompactionAt = Date.now()
      this.#counters.lastCompactionMs = Date.now() - started
    } catch (error) {
      this.#counters.compactionFailures++
      const delay = Math.min(this.#retryMs * 2 ** this.#failures++, MAX_RETRY_MS)
      this.#logger.warn('compaction failed; the log is kept and compaction retried', {
        room: this.name,
        retryInMs: delay,
        error: errorText(error),
      })
      if (!this.#closed) {
        this.#retry = setTimeout(() => {
          this.#retry = undefined
          this.#maybeCompact()
        }, delay)
        unrefTimer(this.#retry)
      }
    }
  }

  /** Stops listening and waits for the appends and compaction in flight. */
  async close(): Promise<void> {
    this.#closed = true
    this.#doc.off('update', this.#onUpdate)
    clearTimeout(this.#retry)
    await Promise.allSettled([this.#last, this.#compacting])
  }
}
