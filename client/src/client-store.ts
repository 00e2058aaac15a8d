import {
  assertKey,
  defineJsonProperty,
  KV_ARRAY,
  toJsonValue,
  type Emitter,
  type JsonValue,
  type KvEntry,
} from '@mesh/core/browser'
import { YKeyValue } from 'y-utility/y-keyvalue'
import type * as Y from 'yjs'
import { MeshClientError } from './errors.js'
import type { MeshClientEvents } from './events.js'

const expired = (entry: KvEntry): boolean => typeof entry.exp === 'number' && entry.exp <= Date.now()

const defined = (key: string, value: unknown): JsonValue => {
  if (value === undefined)
    throw new MeshClientError('bad_request', `value for "${key}" is undefined; use pop to remove`)
  return toJsonValue(value, key)
}

/**
 * The node store's key/value layout on the client's doc: `{ key, val, owner?, exp? }` entries
 * in array `kv`, through y-utility's `YKeyValue` (its writes scan the array, fine for a tab's
 * few keys). Keys and values are checked with the nodes' own rules; entries a node wrote with
 * an owner or an expiry read like any other until they expire.
 */
export class ClientStore {
  #emitter: Emitter<MeshClientEvents>
  #remoteOrigin: unknown
  #doc: Y.Doc
  #kv: YKeyValue<JsonValue>

  constructor(doc: Y.Doc, options: { emitter: Emitter<MeshClientEvents>; remoteOrigin: unknown }) {
    this.#emitter = options.emitter
    this.#remoteOrigin = options.remoteOrigin
    this.#doc = doc
    this.#kv = this.#open(doc)
  }

  /** Moves the store onto `doc` (after a read-only rollback swapped the replica). */
  attach(doc: Y.Doc): void {
    this.#kv.off('change', this.#onChange)
    this.#doc = doc
    this.#kv = this.#open(doc)
  }

  #open(doc: Y.Doc): YKeyValue<JsonValue> {
    const kv = new YKeyValue<JsonValue>(doc.getArray(KV_ARRAY))
    kv.on('change', this.#onChange)
    return kv
  }

  /** Writes one key, or every key of an object in one transaction. Throws `bad_request` on a bad key or value. */
  // Checks everything at run time: JavaScript callers reach here with any value.
  put(keyOrEntries: unknown, value?: unknown): void {
    const kv = this.#kv
    if (typeof keyOrEntries === 'string') {
      const key = assertKey(keyOrEntries)
      const json = defined(key, value)
      this.#doc.transact(() => kv.set(key, json))
      return
    }
    if (typeof keyOrEntries !== 'object' || keyOrEntries === null || Array.isArray(keyOrEntries)) {
      throw new MeshClientError('bad_request', 'put takes a key and a value, or an object of keys and values')
    }
    const entries = Object.entries(keyOrEntries).map(([k, v]) => [assertKey(k), defined(k, v)] as const)
    if (entries.length === 0) return
    this.#doc.transact(() => {
      for (const [k, v] of entries) kv.set(k, v)
    })
  }

  get(key: string): JsonValue | undefined {
    const entry = this.#kv.map.get(key)
    return entry && !expired(entry) ? entry.val : undefined
  }

  /** Removes `key` and returns the value it held. */
  pop(key: string): JsonValue | undefined {
    const value = this.get(key)
    if (this.#kv.has(key)) this.#doc.transact(() => this.#kv.delete(key))
    return value
  }

  entries(): Array<[string, JsonValue]> {
    const out: Array<[string, JsonValue]> = []
    for (const [key, entry] of this.#kv.map as Map<string, KvEntry>) if (!expired(entry)) out.push([key, entry.val])
    return out
  }

  toJSON(): Record<string, JsonValue> {
    const out: Record<string, JsonValue> = {}
    for (const [key, value] of this.entries()) defineJsonProperty(out, key, value)
    return out
  }

  #onChange = (changes: Map<string, unknown>, transaction: Y.Transaction): void => {
    if (!this.#emitter.has('change')) return
    this.#emitter.emit('change', { keys: [...changes.keys()], local: transaction.origin !== this.#remoteOrigin })
  }
}
