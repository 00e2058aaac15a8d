import type * as Y from 'yjs'
import { MeshError } from '../common/index.js'
import { defineJsonProperty, isWellFormed, toJsonValue, type JsonValue } from '../common/index.js'
import { MAX_KEY_LENGTH, type KvEntry } from './kv-entry.js'
import type { KvIndex } from './kv-index.js'

/** The room that holds the key/value store the node's `put`/`get`/`pop` work on. */
export const DEFAULT_ROOM = 'default'

/** What a store needs of its room (replication's `Room` is one). */
export interface StoreRoom {
  readonly name: string
  readonly doc: Y.Doc
  readonly kv: KvIndex
  readonly destroyed: boolean
  readonly maxBytes: number
  /** False when `bytes` more would take the room over its size limit. */
  admit(bytes: number): boolean
}

/** Longest TTL accepted: about 68 years, far beyond any cache, and safe in a 32-bit timer. */
const MAX_TTL_MS = 2 ** 31 - 1

/** Owner and expiry of an ephemeral or TTL key. */
export interface KeyMeta {
  /** Node id that owns an ephemeral key. */
  owner?: string
  /** Expiry of a TTL key, in milliseconds since the epoch by the writer's clock. */
  expiresAt?: number
}

/** Options of a write. */
export interface PutOptions {
  /** Owned by the writing node: removed everywhere when it leaves or is declared dead. */
  ephemeral?: boolean
  /** Expires this many milliseconds after the write (by the writer's clock). */
  ttl?: number
  /**
   * `MeshNode.put` only: resolve once this many directly linked peers hold the write
   * (see `MeshNode.flush`), else reject with a `timeout` MeshError after `timeoutMs`.
   */
  replicas?: number
  /** With `replicas`: how long to wait for the peers. Default 5000 ms. */
  timeoutMs?: number
}

/** Throws a `bad_request` MeshError unless `key` is a usable store key. */
export const assertKey = (key: unknown): string => {
  if (typeof key !== 'string' || key.length === 0) throw new MeshError('bad_request', 'key must be a non-empty string')
  if (key.length > MAX_KEY_LENGTH) throw new MeshError('bad_request', `key is longer than ${MAX_KEY_LENGTH} characters`)
  if (!isWellFormed(key)) throw new MeshError('bad_request', 'key contains a lone UTF-16 surrogate')
  return key
}

/** The owner and expiry fields of a write's entry. */
const extrasFor = (
  owner: string,
  options: PutOptions | undefined,
  now: number,
  yields: boolean,
): Pick<KvEntry, 'owner' | 'exp' | 'yields'> => {
  const extras: Pick<KvEntry, 'owner' | 'exp' | 'yields'> = yields ? { yields: true } : {}
  if (options?.ephemeral) extras.owner = owner
  if (options?.ttl !== undefined) {
    if (!Number.isInteger(options.ttl) || options.ttl <= 0 || options.ttl > MAX_TTL_MS) {
      throw new MeshError('bad_request', `ttl must be a whole number of milliseconds from 1 to ${MAX_TTL_MS}`)
    }
    extras.exp = now + options.ttl
  }
  return extras
}

const expired = (entry: KvEntry, now: number): boolean => entry.exp !== undefined && entry.exp <= now

/** What the owner of an ephemeral key remembers of it, to write it again if others remove it. */
interface Owned {
  entry: KvEntry
  ref: string | undefined
}

/** Options of {@link MeshStore}. */
export interface MeshStoreOptions {
  room: StoreRoom
  /** Transaction origin of this node's own writes. */
  origin: unknown
  /** Node id written as the owner of ephemeral keys. */
  owner: string
  /**
   * Called before the store writes back ephemeral keys that another node removed while this
   * node lives (a sweep during a partition or a pause), e.g. to announce liveness first.
   */
  reasserting?: (keys: string[]) => void
  /** Mark this node's writes to lose to concurrent writes of other nodes (`onConflict: 'accept'`). */
  yields?: boolean
}

/**
 * A typed key/value facade over a room's key/value array (see KvIndex): reads are index
 * look-ups, and the puts of one turn are one transaction. Ephemeral and TTL keys carry their
 * owner and expiry inside their entry; expired keys are invisible to reads here before a
 * sweeper removes them. While this node lives, an ephemeral key it owns that another node
 * removes (a sweeper that judged it dead during a partition or a pause) is written again; a
 * write of the key by another node ends ownership.
 */
export class MeshStore {
  #room: StoreRoom
  #origin: unknown
  #owner: string
  #reasserting: ((keys: string[]) => void) | undefined
  #yields: boolean
  #queue = new Map<string, KvEntry>()
  #scheduled = false
  #owned = new Map<string, Owned>()
  #lost = new Set<string>()
  /** Keys a previous process with this node's id owned: removed on the next flush. */
  #stale = new Set<string>()
  #removals = new Set<string>()
  /** Settles when the puts queued in this turn are applied. */
  #applied: { promise: Promise<void>; resolve: () => void } | undefined

  constructor(options: MeshStoreOptions) {
    this.#room = options.room
    this.#origin = options.origin
    this.#owner = options.owner
    this.#reasserting = options.reasserting
    this.#yields = options.yields ?? false
  }

  /**
   * Called by the room after every transaction that changed keys: an owned key another node
   * removed is written back; one another node wrote is no longer owned.
   */
  review(keys: readonly string[], external: boolean): void {
    if (!external) return
    const { kv } = this.#room
    for (const key of keys) {
      const owned = this.#owned.get(key)
      if (!owned) {
        // Owned by this node's id but not written by this life: a previous process with the
        // same id wrote it (its keys would otherwise outlive it while this one runs).
        if (kv.ownerOf(key) === this.#owner) {
          this.#stale.add(key)
          this.#schedule()
        }
        continue
      }
      // Only for keys this node owns: building the ref of every key would cost a cold join dearly.
      const ref = kv.ref(key)
      if (ref === owned.ref) continue
      if (ref !== undefined && kv.entry(key)?.owner !== this.#owner) {
        // Another node wrote the key: the key is theirs now.
        this.#owned.delete(key)
        continue
      }
      // Gone, or this node's id wrote it in a previous life.
      this.#lost.add(key)
      this.#schedule()
    }
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(this.flush)
  }

  /**
   * Writes one key, or every key of an object in one commit. Values must be JSON and are
   * validated at once (a bad one rejects and writes nothing). Puts made in the same turn of
   * the event loop are applied together, in order, as one Yjs transaction at the end of the
   * turn: one commit and one update on the wire instead of one per call. Reads on this store
   * see them immediately. The promise resolves once the write is applied locally; use
   * `MeshNode.flush({ replicas })` to wait until peers hold it.
   */
  put(key: string, value: JsonValue, options?: PutOptions): Promise<void>
  put(entries: Record<string, JsonValue>, options?: PutOptions): Promise<void>
  put(
    keyOrEntries: string | Record<string, JsonValue>,
    value?: JsonValue | PutOptions,
    options?: PutOptions,
  ): Promise<void> {
    try {
      this.#enqueue(keyOrEntries, value, options)
    } catch (error) {
      return Promise.reject(error)
    }
    if (!this.#applied) {
      let resolve = (): void => {}
      const promise = new Promise<void>((r) => (resolve = r))
      this.#applied = { promise, resolve }
    }
    return this.#applied.promise
  }

  /** Synchronous `put` that applies at once: throws instead of rejecting. */
  set(key: string, value: JsonValue, options?: PutOptions): void
  set(entries: Record<string, JsonValue>, options?: PutOptions): void
  set(keyOrEntries: string | Record<string, JsonValue>, value?: JsonValue | PutOptions, options?: PutOptions): void {
    this.#enqueue(keyOrEntries, value, options)
    this.flush()
  }

  /** Applies the puts queued in this turn now, as one transaction. Reads do this themselves. */
  flush = (): void => {
    this.#scheduled = false
    if (this.#lost.size > 0 || this.#stale.size > 0) this.#writeBack()
    if (this.#removals.size > 0) {
      const removals = [...this.#removals].map((key): [string, undefined] => [key, undefined])
      this.#removals.clear()
      this.#room.doc.transact((tr) => this.#room.kv.write(tr, removals), this.#origin)
    }
    const applied = this.#applied
    this.#applied = undefined
    if (this.#queue.size > 0) {
      const queue = this.#queue
      this.#queue = new Map()
      const { kv, doc } = this.#room
      doc.transact((tr) => kv.write(tr, [...queue]), this.#origin)
      for (const [key, entry] of queue) {
        if (entry.owner === this.#owner) this.#owned.set(key, { entry, ref: kv.ref(key) })
      }
    }
    applied?.resolve()
  }

  /** Queues the owned keys others removed, unless they expired or were written here meanwhile. */
  #writeBack(): void {
    const now = Date.now()
    const keys: string[] = []
    const { kv } = this.#room
    for (const key of this.#stale) {
      if (this.#owned.has(key) || this.#queue.has(key) || kv.entry(key)?.owner !== this.#owner) continue
      this.#removals.add(key)
    }
    this.#stale.clear()
    for (const key of this.#lost) {
      const owned = this.#owned.get(key)
      const current = kv.entry(key)
      if (!owned || this.#queue.has(key) || (current !== undefined && current.owner !== this.#owner)) continue
      if (expired(owned.entry, now)) {
        this.#owned.delete(key)
        continue
      }
      keys.push(key)
      this.#queue.set(key, owned.entry)
    }
    this.#lost.clear()
    if (keys.length > 0 && !this.#room.destroyed) this.#reasserting?.(keys)
  }

  // Checks everything at run time: JavaScript callers reach here with any value.
  #enqueue(keyOrEntries: unknown, value: unknown, options: unknown): void {
    if (this.#room.destroyed) throw new MeshError('closed', 'the node is closed')
    let entries: Array<[string, unknown]>
    let opts: PutOptions | undefined
    if (typeof keyOrEntries === 'string') {
      entries = [[keyOrEntries, value]]
      opts = options as PutOptions | undefined
    } else if (typeof keyOrEntries === 'object' && keyOrEntries !== null && !Array.isArray(keyOrEntries)) {
      entries = Object.entries(keyOrEntries)
      opts = value as PutOptions | undefined
    } else {
      throw new MeshError('bad_request', 'put takes a key and a value, or an object of keys and values')
    }
    const extras = extrasFor(this.#owner, opts, Date.now(), this.#yields)
    // Validate everything before queueing anything: a bad value writes nothing.
    const checked = entries.map(([rawKey, v]): KvEntry => {
      const key = assertKey(rawKey)
      if (v === undefined) throw new MeshError('bad_request', `value for "${key}" is undefined; use pop to remove`)
      return { key, val: toJsonValue(v, key), ...extras }
    })
    // Local writes respect the document limit too: a room that outgrew its peers' limit
    // could never sync again. An upper bound of the encoded size is enough here.
    let bytes = 0
    for (const entry of checked) bytes += JSON.stringify(entry).length + 16
    if (!this.#room.admit(bytes)) {
      throw new MeshError(
        'too_large',
        `room "${this.#room.name}" would exceed its limit of ${this.#room.maxBytes} bytes (limits.maxDocumentBytes)`,
      )
    }
    // A key written twice in one turn keeps its first place and its last value.
    for (const entry of checked) {
      this.#queue.set(entry.key, entry)
      if (entry.owner === undefined) this.#owned.delete(entry.key)
    }
    if (this.#queue.size > 0) this.#schedule()
  }

  /**
   * The value of `key`, or `undefined` (also once a TTL key expired). `T` only narrows the
   * type; the value is whatever JSON the key holds.
   */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T lets a caller name the JSON shape it stored
  get<T extends JsonValue = JsonValue>(key: string): T | undefined {
    this.flush()
    const entry = this.#room.kv.entry(key)
    return entry === undefined || expired(entry, Date.now()) ? undefined : (entry.val as T)
  }

  /** True when `key` holds a value that has not expired. */
  has(key: string): boolean {
    return this.get(key) !== undefined
  }

  /** Owner and expiry of an ephemeral or TTL key. */
  meta(key: string): KeyMeta | undefined {
    this.flush()
    const entry = this.#room.kv.entry(key)
    if (!entry || (entry.owner === undefined && entry.exp === undefined)) return undefined
    return {
      ...(entry.owner !== undefined ? { owner: entry.owner } : {}),
      ...(entry.exp !== undefined ? { expiresAt: entry.exp } : {}),
    }
  }

  /** Removes `key` everywhere and resolves with the value it held, or `undefined`. */
  pop(key: string): Promise<JsonValue | undefined> {
    const value = this.get(key)
    this.#owned.delete(key)
    const { kv, doc } = this.#room
    if (kv.entry(key) !== undefined) doc.transact((tr) => kv.write(tr, [[key, undefined]]), this.#origin)
    return Promise.resolve(value)
  }

  /** Every key currently held. */
  keys(): string[] {
    return this.entries().map(([k]) => k)
  }

  /** Every `[key, value]` pair currently held. */
  entries(): Array<[string, JsonValue]> {
    this.flush()
    const now = Date.now()
    const out: Array<[string, JsonValue]> = []
    for (const entry of this.#room.kv.entries()) if (!expired(entry, now)) out.push([entry.key, entry.val])
    return out
  }

  /** Number of keys. */
  get size(): number {
    this.flush()
    const now = Date.now()
    let hidden = 0
    for (const entry of this.#room.kv.special()) if (expired(entry, now)) hidden++
    return this.#room.kv.size - hidden
  }

  /** A plain-object snapshot of the whole store. */
  toJSON(): Record<string, JsonValue> {
    const out: Record<string, JsonValue> = {}
    for (const [key, value] of this.entries()) defineJsonProperty(out, key, value)
    return out
  }

  /**
   * Removes, in one commit, every expired key and every ephemeral key whose owner `isGone`.
   * Returns the keys removed. Removing twice is harmless, so two sweepers do no damage. It
   * looks only at entries with an owner or an expiry, never at the whole store.
   */
  sweep(now: number, isGone: (owner: string) => boolean): string[] {
    this.flush()
    const { kv, doc } = this.#room
    const doomed: string[] = []
    for (const entry of kv.special()) {
      if (expired(entry, now) || (entry.owner !== undefined && isGone(entry.owner))) doomed.push(entry.key)
    }
    if (doomed.length > 0) {
      for (const key of doomed) this.#owned.delete(key)
      doc.transact(
        (tr) =>
          kv.write(
            tr,
            doomed.map((key) => [key, undefined] as [string, undefined]),
          ),
        this.#origin,
      )
    }
    return doomed
  }
}
