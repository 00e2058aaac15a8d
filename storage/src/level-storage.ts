import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { StorageAdapter, StorageStats, StoredRoom } from '@mesh/core'
import { ClassicLevel } from 'classic-level'
import { prepareDataDir, StorageOpenError } from './data-dir.js'
import { DEFAULT_FSYNC, parseFsyncPolicy, type FsyncPolicy } from './fsync-policy.js'
import { frame, keys, unframe } from './records.js'

/** Options of {@link LevelStorage}. */
export interface LevelStorageOptions {
  /** The data directory: created if missing; refused if it holds anything but Mesh data. */
  dir: string
  /** When writes are forced to disk: a policy or its text (`always`, `batch:50`, `never`). Default `batch:50`. */
  fsync?: FsyncPolicy | string
}

interface Waiter {
  resolve(): void
  reject(error: unknown): void
}

type Op =
  | { kind: 'append'; room: string; updates: readonly Uint8Array[]; waiter: Waiter }
  | { kind: 'compact'; room: string; snapshot: Uint8Array; waiter: Waiter }
  /** Forces an fsync of everything written before (`batch` policy, close). */
  | { kind: 'sync'; waiter: Waiter }
  /** Writes nothing: settles once everything queued before it is written. */
  | { kind: 'barrier'; waiter: Waiter }

type BatchOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }

/** Above every hex digit and URI-encoded character: the end of a key range. */
const RANGE_END = '\x7f'

const EMPTY = new Uint8Array(0)

/**
 * The embedded default {@link StorageAdapter}: every room's log and snapshot in one LevelDB
 * database (`classic-level`, whose prebuilt binaries ship inside the npm package). Writes go
 * through one queue, in call order, grouped into atomic LevelDB batches: appends that arrive
 * while a batch is being written share the next one, and with it one fsync under `always`.
 *
 * @example
 * const storage = await LevelStorage.open({ dir: './data', fsync: 'always' })
 * const node = new MeshNode({ persistence: storage })
 * await node.ready()
 */
export class LevelStorage implements StorageAdapter {
  /** The data directory. */
  readonly dir: string
  /** The fsync policy in force. */
  readonly fsync: FsyncPolicy
  #db: ClassicLevel<string, Uint8Array> | undefined
  #levelDir = ''
  #opened: Promise<void>
  #queue: Op[] = []
  #pumping = false
  #closed = false
  /** Every room, with the sequence numbers of its log: [first, next). */
  #rooms = new Map<string, { first: number; next: number }>()
  #syncTimer: ReturnType<typeof setTimeout> | undefined
  /** Something was written that no fsync covers yet. */
  #unsynced = false
  #stats = { syncs: 0, syncMsTotal: 0, lastSyncMs: 0 }

  constructor(options: LevelStorageOptions) {
    this.dir = options.dir
    this.fsync = typeof options.fsync === 'string' ? parseFsyncPolicy(options.fsync) : (options.fsync ?? DEFAULT_FSYNC)
    this.#opened = this.#open()
    // Reported by every call (and by `open`); not an unhandled rejection meanwhile.
    this.#opened.catch(() => {})
  }

  /** Opens (or creates) the data directory; rejects with a {@link StorageOpenError} naming the file at fault. */
  static async open(options: LevelStorageOptions): Promise<LevelStorage> {
    const storage = new LevelStorage(options)
    await storage.#opened
    return storage
  }

  async #open(): Promise<void> {
    await Promise.resolve()
    const { levelDir, created } = prepareDataDir(this.dir)
    this.#levelDir = levelDir
    const db = new ClassicLevel<string, Uint8Array>(levelDir, {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
      createIfMissing: created,
      // Snappy barely shrinks Yjs updates, and undoing it cost a restart of 1M keys about 0.3 s
      // of CPU for the 20 MB snapshot alone (tables written before keep theirs and still load).
      compression: false,
    })
    try {
      await db.open()
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message
      throw new StorageOpenError(levelDir, `${levelDir} cannot be opened: ${cause}`, { cause: error })
    }
    this.#db = db
    for await (const roomKey of db.keys({ gte: keys.roomPrefix, lt: keys.roomPrefix + RANGE_END })) {
      const name = keys.nameOf(roomKey)
      const range = { gte: keys.logPrefix(name), lt: keys.logPrefix(name) + RANGE_END }
      const [first] = await db.keys({ ...range, limit: 1 }).all()
      const [last] = await db.keys({ ...range, limit: 1, reverse: true }).all()
      const next = last === undefined ? 0 : keys.seqOf(last) + 1
      this.#rooms.set(name, { first: first === undefined ? next : keys.seqOf(first), next })
    }
  }

  #enqueue(op: Op): void {
    if (this.#closed) {
      op.waiter.reject(new Error(`storage ${this.dir} is closed`))
      return
    }
    this.#queue.push(op)
    if (!this.#pumping) void this.#pump()
  }

  #call(make: (waiter: Waiter) => Op): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#enqueue(make({ resolve, reject })))
  }

  append(room: string, updates: readonly Uint8Array[]): Promise<void> {
    return this.#call((waiter) => ({ kind: 'append', room, updates, waiter }))
  }

  compact(room: string, snapshot: Uint8Array): Promise<void> {
    return this.#call((waiter) => ({ kind: 'compact', room, snapshot, waiter }))
  }

  async load(room: string): Promise<StoredRoom> {
    await this.#call((waiter) => ({ kind: 'barrier', waiter }))
    const db = this.#db as ClassicLevel<string, Uint8Array>
    const stored = await db.get(keys.snapshot(room))
    let snapshot: Uint8Array | undefined
    if (stored !== undefined) {
      snapshot = unframe(stored)
      if (!snapshot) {
        throw new StorageOpenError(this.#levelDir, `${this.#levelDir}: the snapshot of room "${room}" is corrupt`)
      }
    }
    const updates: Uint8Array[] = []
    let skipped = 0
    const prefix = keys.logPrefix(room)
    for await (const value of db.values({ gte: prefix, lt: prefix + RANGE_END })) {
      const update = unframe(value)
      if (update) updates.push(update)
      else skipped++
    }
    return { snapshot, updates, ...(skipped > 0 ? { skipped } : {}) }
  }

  async rooms(): Promise<string[]> {
    await this.#call((waiter) => ({ kind: 'barrier', waiter }))
    return [...this.#rooms.keys()]
  }

  /** Writes what is queued, fsyncs it (unless the policy is `never`) and closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return
    // A sync op writes a marker: only when there is something to sync, so a store that was
    // only read (or refused) is left byte for byte as it was.
    const last = this.#call((waiter) => ({
      kind: this.fsync.kind !== 'never' && this.#unsynced ? 'sync' : 'barrier',
      waiter,
    }))
    this.#closed = true
    await last.catch(() => {})
    clearTimeout(this.#syncTimer)
    await this.#opened.catch(() => {})
    await this.#db?.close()
  }

  stats(): StorageStats {
    let bytes = 0
    try {
      for (const file of readdirSync(this.#levelDir)) bytes += statSync(join(this.#levelDir, file)).size
    } catch {
      // Not open yet, or closed: the size is unknown.
    }
    return { bytes, ...this.#stats }
  }

  async #pump(): Promise<void> {
    this.#pumping = true
    try {
      try {
        await this.#opened
      } catch (error) {
        for (const op of this.#queue.splice(0)) op.waiter.reject(error)
        return
      }
      while (this.#queue.length > 0) await this.#write(this.#queue.splice(0))
    } finally {
      this.#pumping = false
    }
  }

  /** Writes a group of queued operations as one atomic batch. */
  async #write(ops: Op[]): Promise<void> {
    const db = this.#db as ClassicLevel<string, Uint8Array>
    const before = new Map([...this.#rooms].map(([name, range]) => [name, { ...range }]))
    const batch: BatchOp[] = []
    let sync = this.fsync.kind === 'always'
    const range = (room: string): { first: number; next: number } => {
      let known = this.#rooms.get(room)
      if (!known) {
        this.#rooms.set(room, (known = { first: 0, next: 0 }))
        batch.push({ type: 'put', key: keys.room(room), value: EMPTY })
      }
      return known
    }
    for (const op of ops) {
      if (op.kind === 'append') {
        const known = range(op.room)
        for (const update of op.updates)
          batch.push({ type: 'put', key: keys.log(op.room, known.next++), value: frame(update) })
      } else if (op.kind === 'compact') {
        const known = range(op.room)
        batch.push({ type: 'put', key: keys.snapshot(op.room), value: frame(op.snapshot) })
        for (let seq = known.first; seq < known.next; seq++) batch.push({ type: 'del', key: keys.log(op.room, seq) })
        known.first = known.next
      } else if (op.kind === 'sync') {
        sync = true
        batch.push({ type: 'put', key: keys.synced, value: frame(new TextEncoder().encode(String(Date.now()))) })
      }
    }
    try {
      if (batch.length > 0) {
        const started = performance.now()
        await db.batch(batch, { sync })
        if (sync) this.#synced(performance.now() - started)
        else {
          this.#unsynced = true
          this.#scheduleSync()
        }
      }
    } catch (error) {
      // Nothing of the batch was written: the log ranges are what they were.
      this.#rooms = before
      for (const op of ops) op.waiter.reject(error)
      return
    }
    for (const op of ops) op.waiter.resolve()
  }

  #synced(ms: number): void {
    this.#unsynced = false
    this.#stats.syncs++
    this.#stats.syncMsTotal += ms
    this.#stats.lastSyncMs = ms
    clearTimeout(this.#syncTimer)
    this.#syncTimer = undefined
  }

  /** Under `batch:<ms>`, an fsync at most `ms` after a write that was not synced. */
  #scheduleSync(): void {
    if (this.fsync.kind !== 'batch' || this.#syncTimer) return
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined
      this.#call((waiter) => ({ kind: 'sync', waiter })).catch(() => {})
    }, this.fsync.ms)
  }
}
