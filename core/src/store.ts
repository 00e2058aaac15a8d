import { MeshError } from './errors.js'
import { defineJsonProperty, toJsonValue, type JsonValue } from './json.js'
import type { Room } from './room.js'

/** Longest key the store accepts, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 1024

/** Throws a `bad_request` MeshError unless `key` is a usable store key. */
export const assertKey = (key: unknown): string => {
  if (typeof key !== 'string' || key.length === 0) throw new MeshError('bad_request', 'key must be a non-empty string')
  if (key.length > MAX_KEY_LENGTH) throw new MeshError('bad_request', `key is longer than ${MAX_KEY_LENGTH} characters`)
  return key
}

/**
 * A typed key/value facade over a room's `kv` map. Every method is one Yjs transaction, so
 * `put(object)` is one commit however many keys it writes.
 */
export class MeshStore {
  #room: Room
  #origin: unknown

  constructor(room: Room, origin: unknown) {
    this.#room = room
    this.#origin = origin
  }

  /** Writes one key, or every key of an object in one commit. Values must be JSON. */
  put(key: string, value: unknown): Promise<void>
  put(entries: Record<string, unknown>): Promise<void>
  put(keyOrEntries: string | Record<string, unknown>, value?: unknown): Promise<void> {
    try {
      this.set(keyOrEntries, value)
      return Promise.resolve()
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Synchronous `put`: throws instead of rejecting. */
  set(keyOrEntries: string | Record<string, unknown>, value?: unknown): void {
    const kv = this.#room.kv
    if (typeof keyOrEntries === 'string') {
      const key = assertKey(keyOrEntries)
      if (value === undefined) throw new MeshError('bad_request', `value for "${key}" is undefined; use pop to remove`)
      const json = toJsonValue(value, key)
      this.#room.doc.transact(() => kv.set(key, json), this.#origin)
      return
    }
    if (typeof keyOrEntries !== 'object' || keyOrEntries === null || Array.isArray(keyOrEntries)) {
      throw new MeshError('bad_request', 'put takes a key and a value, or an object of keys and values')
    }
    const entries = Object.entries(keyOrEntries).map(([k, v]) => {
      if (v === undefined) throw new MeshError('bad_request', `value for "${k}" is undefined; use pop to remove`)
      return [assertKey(k), toJsonValue(v, k)] as const
    })
    if (entries.length === 0) return
    this.#room.doc.transact(() => {
      for (const [k, v] of entries) kv.set(k, v)
    }, this.#origin)
  }

  /** The value of `key`, or `undefined`. */
  get(key: string): JsonValue | undefined {
    return this.#room.kv.get(key) as JsonValue | undefined
  }

  /** True when `key` holds a value. */
  has(key: string): boolean {
    return this.#room.kv.has(key)
  }

  /** Removes `key` everywhere and resolves with the value it held, or `undefined`. */
  pop(key: string): Promise<JsonValue | undefined> {
    const kv = this.#room.kv
    const value = kv.get(key) as JsonValue | undefined
    if (value !== undefined) this.#room.doc.transact(() => kv.delete(key), this.#origin)
    return Promise.resolve(value)
  }

  /** Every key currently held. */
  keys(): string[] {
    return [...this.#room.kv.keys()]
  }

  /** Every `[key, value]` pair currently held. */
  entries(): Array<[string, JsonValue]> {
    return [...this.#room.kv.entries()] as Array<[string, JsonValue]>
  }

  /** Number of keys. */
  get size(): number {
    return this.#room.kv.size
  }

  /** A plain-object snapshot of the whole store. */
  toJSON(): Record<string, JsonValue> {
    const out: Record<string, JsonValue> = {}
    this.#room.kv.forEach((value, key) => defineJsonProperty(out, key, value))
    return out
  }
}
