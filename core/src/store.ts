import { MeshError } from './errors.js'
import { defineJsonProperty, isWellFormed, toJsonValue, type JsonValue } from './json.js'
import type { KeyMeta, Room } from './room.js'

/** Longest key the store accepts, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 1024

/** Longest TTL accepted: about 68 years, far beyond any cache, and safe in a 32-bit timer. */
const MAX_TTL_MS = 2 ** 31 - 1

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

/** Y.Map#set picks its encoding by `value.constructor`, which an own "constructor" key hides. */
const topLevel = (value: JsonValue, key: string): JsonValue => {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.hasOwn(value, 'constructor')) {
    throw new MeshError(
      'bad_request',
      `value of "${key}" is an object with a "constructor" key, which Yjs cannot store`,
    )
  }
  return value
}

const metaFor = (owner: string, options: PutOptions | undefined, now: number): KeyMeta | undefined => {
  if (!options || (!options.ephemeral && options.ttl === undefined)) return undefined
  const meta: KeyMeta = {}
  if (options.ephemeral) meta.owner = owner
  if (options.ttl !== undefined) {
    if (!Number.isInteger(options.ttl) || options.ttl <= 0 || options.ttl > MAX_TTL_MS) {
      throw new MeshError('bad_request', `ttl must be a whole number of milliseconds from 1 to ${MAX_TTL_MS}`)
    }
    meta.expiresAt = now + options.ttl
  }
  return meta
}

/** The id of the item that holds `key`'s current value, as `client:clock`, or undefined when absent. */
const valueRef = (room: Room, key: string): string | undefined => {
  const item = room.kv._map.get(key)
  return item && !item.deleted ? `${item.id.client}:${item.id.clock}` : undefined
}

/**
 * The metadata of `key` when it is well formed and describes the key's current value; anything
 * else (written by a hostile peer, or left stale by a concurrent write) is ignored.
 */
const currentMeta = (room: Room, key: string): KeyMeta | undefined => {
  const raw = room.kvMeta.get(key)
  if (typeof raw !== 'object' || raw === null) return undefined
  const meta = raw as Record<string, unknown>
  if (typeof meta.ref !== 'string' || meta.ref !== valueRef(room, key)) return undefined
  const out: KeyMeta = { ref: meta.ref }
  if (typeof meta.owner === 'string') out.owner = meta.owner
  if (typeof meta.expiresAt === 'number' && Number.isFinite(meta.expiresAt)) out.expiresAt = meta.expiresAt
  return out
}

/** What the owner of an ephemeral key remembers of it, to write it again if others remove it. */
interface Owned {
  value: JsonValue
  expiresAt: number | undefined
  ref: string | undefined
}

/** Options of {@link MeshStore}. */
export interface MeshStoreOptions {
  room: Room
  /** Transaction origin of this node's own writes. */
  origin: unknown
  /** Node id written as the owner of ephemeral keys. */
  owner: string
  /**
   * Called before the store writes back ephemeral keys that another node removed while this
   * node lives (a sweep during a partition or a pause), e.g. to announce liveness first.
   */
  reasserting?: (keys: string[]) => void
}

/**
 * A typed key/value facade over a room's `kv` map. Every method is one Yjs transaction, so
 * `put(object)` is one commit however many keys it writes. Ephemeral and TTL keys keep their
 * owner and expiry in the room's `kv-meta` map, tied to the value they describe; expired keys
 * are invisible to reads here before a sweeper removes them. While this node lives, an
 * ephemeral key it owns that another node removes (a sweeper that judged it dead during a
 * partition or a pause) is written again; a write of the key by another node ends ownership.
 */
export class MeshStore {
  #room: Room
  #origin: unknown
  #owner: string
  #reasserting: ((keys: string[]) => void) | undefined
  #queue = new Map<string, { value: JsonValue; meta: KeyMeta | undefined }>()
  #scheduled = false
  #owned = new Map<string, Owned>()
  #lost = new Set<string>()
  /** Settles when the puts queued in this turn are applied. */
  #applied: { promise: Promise<void>; resolve: () => void } | undefined

  constructor(options: MeshStoreOptions) {
    this.#room = options.room
    this.#origin = options.origin
    this.#owner = options.owner
    this.#reasserting = options.reasserting
    this.#room.kv.observe((event) => {
      if (this.#owned.size === 0 || event.transaction.origin === this.#origin) return
      for (const key of event.keysChanged) this.#review(key)
    })
  }

  /** Whether an owned key still holds this node's write; schedules a write-back when it was removed. */
  #review(key: string): void {
    const owned = this.#owned.get(key)
    if (!owned) return
    const ref = valueRef(this.#room, key)
    if (ref === owned.ref) return
    if (ref !== undefined) {
      // Another node wrote the key: the key is theirs now.
      this.#owned.delete(key)
      return
    }
    this.#lost.add(key)
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.flush)
    }
  }

  /**
   * Writes one key, or every key of an object in one commit. Values must be JSON and are
   * validated at once (a bad one rejects and writes nothing). Puts made in the same turn of
   * the event loop are applied together, in order, as one Yjs transaction at the end of the
   * turn: one commit and one update on the wire instead of one per call. Reads on this store
   * see them immediately. The promise resolves once the write is applied locally; use
   * `MeshNode.flush({ replicas })` to wait until peers hold it.
   */
  put(key: string, value: unknown, options?: PutOptions): Promise<void>
  put(entries: Record<string, unknown>, options?: PutOptions): Promise<void>
  put(keyOrEntries: string | Record<string, unknown>, value?: unknown, options?: PutOptions): Promise<void> {
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
  set(key: string, value: unknown, options?: PutOptions): void
  set(entries: Record<string, unknown>, options?: PutOptions): void
  set(keyOrEntries: string | Record<string, unknown>, value?: unknown, options?: PutOptions): void {
    this.#enqueue(keyOrEntries, value, options)
    this.flush()
  }

  /** Applies the puts queued in this turn now, as one transaction. Reads do this themselves. */
  flush = (): void => {
    this.#scheduled = false
    if (this.#lost.size > 0) this.#writeBack()
    const applied = this.#applied
    this.#applied = undefined
    if (this.#queue.size > 0) {
      const queue = this.#queue
      this.#queue = new Map()
      const room = this.#room
      const { kv, kvMeta, doc } = room
      doc.transact(() => {
        for (const [key, { value, meta }] of queue) {
          kv.set(key, value)
          if (meta) {
            const ref = valueRef(room, key)
            kvMeta.set(key, { ...meta, ref })
            if (meta.owner === this.#owner) this.#owned.set(key, { value, expiresAt: meta.expiresAt, ref })
          } else if (kvMeta.has(key)) kvMeta.delete(key)
        }
      }, this.#origin)
    }
    applied?.resolve()
  }

  /** Queues the owned keys others removed, unless they expired or were written here meanwhile. */
  #writeBack(): void {
    const now = Date.now()
    const keys: string[] = []
    for (const key of this.#lost) {
      const owned = this.#owned.get(key)
      if (!owned || this.#queue.has(key) || valueRef(this.#room, key) !== undefined) continue
      if (owned.expiresAt !== undefined && owned.expiresAt <= now) {
        this.#owned.delete(key)
        continue
      }
      keys.push(key)
      const meta: KeyMeta = { owner: this.#owner }
      if (owned.expiresAt !== undefined) meta.expiresAt = owned.expiresAt
      this.#queue.set(key, { value: owned.value, meta })
    }
    this.#lost.clear()
    if (keys.length > 0 && !this.#room.destroyed) this.#reasserting?.(keys)
  }

  #enqueue(keyOrEntries: string | Record<string, unknown>, value: unknown, options: unknown): void {
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
    const meta = metaFor(this.#owner, opts, Date.now())
    // Validate everything before queueing anything: a bad value writes nothing.
    const checked = entries.map(([rawKey, v]) => {
      const key = assertKey(rawKey)
      if (v === undefined) throw new MeshError('bad_request', `value for "${key}" is undefined; use pop to remove`)
      return [key, topLevel(toJsonValue(v, key), key)] as const
    })
    // Local writes respect the document limit too: a room that outgrew its peers' limit
    // could never sync again. An upper bound of the encoded size is enough here.
    let bytes = 0
    for (const [key, json] of checked) bytes += key.length + JSON.stringify(json).length + 32
    if (!this.#room.admit(bytes)) {
      throw new MeshError(
        'too_large',
        `room "${this.#room.name}" would exceed its limit of ${this.#room.maxBytes} bytes (limits.maxDocumentBytes)`,
      )
    }
    // A key written twice in one turn keeps its first place and its last value.
    for (const [key, json] of checked) {
      this.#queue.set(key, { value: json, meta })
      if (!meta?.owner) this.#owned.delete(key)
    }
    if (!this.#scheduled && this.#queue.size > 0) {
      this.#scheduled = true
      setImmediate(this.flush)
    }
  }

  /** The value of `key`, or `undefined` (also once a TTL key expired). */
  get(key: string): JsonValue | undefined {
    this.flush()
    const value = this.#room.kv.get(key) as JsonValue | undefined
    if (value === undefined || this.#room.kvMeta.size === 0) return value
    return this.#expired(key, Date.now()) ? undefined : value
  }

  /** True when `key` holds a value that has not expired. */
  has(key: string): boolean {
    return this.get(key) !== undefined
  }

  /** Owner and expiry of an ephemeral or TTL key. */
  meta(key: string): KeyMeta | undefined {
    this.flush()
    const meta = currentMeta(this.#room, key)
    if (!meta) return undefined
    const { owner, expiresAt } = meta
    return { ...(owner !== undefined ? { owner } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) }
  }

  /** Removes `key` everywhere and resolves with the value it held, or `undefined`. */
  pop(key: string): Promise<JsonValue | undefined> {
    const value = this.get(key)
    this.#owned.delete(key)
    const { kv, kvMeta, doc } = this.#room
    if (kv.has(key) || kvMeta.has(key)) {
      doc.transact(() => {
        kv.delete(key)
        kvMeta.delete(key)
      }, this.#origin)
    }
    return Promise.resolve(value)
  }

  /** Every key currently held. */
  keys(): string[] {
    return this.entries().map(([k]) => k)
  }

  /** Every `[key, value]` pair currently held. */
  entries(): Array<[string, JsonValue]> {
    this.flush()
    const all = [...this.#room.kv.entries()] as Array<[string, JsonValue]>
    if (this.#room.kvMeta.size === 0) return all
    const now = Date.now()
    return all.filter(([k]) => !this.#expired(k, now))
  }

  /** Number of keys. */
  get size(): number {
    this.flush()
    return this.#room.kvMeta.size === 0 ? this.#room.kv.size : this.entries().length
  }

  /** A plain-object snapshot of the whole store. */
  toJSON(): Record<string, JsonValue> {
    this.flush()
    const out: Record<string, JsonValue> = {}
    const now = Date.now()
    const filter = this.#room.kvMeta.size > 0
    this.#room.kv.forEach((value, key) => {
      if (!filter || !this.#expired(key, now)) defineJsonProperty(out, key, value as JsonValue)
    })
    return out
  }

  /**
   * Removes, in one commit, every expired key and every ephemeral key whose owner `isGone`,
   * and metadata that no longer describes its key's value. Returns the keys whose values it
   * removed. Removing twice is harmless, so two sweepers do no damage. Only metadata that
   * belongs to the current value can remove it: a concurrent plain write of the key that
   * merged with another node's ephemeral metadata is never swept.
   */
  sweep(now: number, isGone: (owner: string) => boolean): string[] {
    this.flush()
    const room = this.#room
    const { kv, kvMeta, doc } = room
    const doomed: string[] = []
    const stale: string[] = []
    kvMeta.forEach((_raw, key) => {
      const meta = currentMeta(room, key)
      if (!meta) stale.push(key)
      else if (
        (meta.expiresAt !== undefined && meta.expiresAt <= now) ||
        (meta.owner !== undefined && isGone(meta.owner))
      ) {
        doomed.push(key)
      }
    })
    if (doomed.length > 0 || stale.length > 0) {
      doc.transact(() => {
        for (const key of doomed) {
          kv.delete(key)
          kvMeta.delete(key)
          this.#owned.delete(key)
        }
        for (const key of stale) kvMeta.delete(key)
      }, this.#origin)
    }
    return doomed
  }

  #expired(key: string, now: number): boolean {
    const expiresAt = currentMeta(this.#room, key)?.expiresAt
    return expiresAt !== undefined && expiresAt <= now
  }
}
