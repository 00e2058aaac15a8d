import { isWellFormed, type JsonValue } from '../common/index.js'

/** Name of the array that holds the key/value store in every room (the layout of y-utility's `YKeyValue`). */
export const KV_ARRAY = 'kv'

/** Longest key the store accepts, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 1024

/** One entry of the store's array: a key, its value, and for ephemeral and TTL keys their owner and expiry. */
export interface KvEntry {
  key: string
  val: JsonValue
  /** Node id that owns an ephemeral key. */
  owner?: string
  /** Expiry of a TTL key, in milliseconds since the epoch by the writer's clock. */
  exp?: number
  /**
   * Set by a node under `onConflict: 'accept'`: this write loses to any concurrent write of the
   * key that is not so marked, on every replica (see KvIndex and docs/conflicts.md).
   */
  yields?: true
}

/**
 * True when `raw` is a well-formed entry of the store's array: an object (not an array) with a
 * non-empty `key` of at most {@link MAX_KEY_LENGTH} well-formed UTF-16 code units, a `val`, an
 * `owner` that is absent or a string, an `exp` that is absent or a finite number, and a
 * `yields` that is absent or `true`. Replicas ignore anything else in the array; light peers
 * may not write it (stock y-utility clients throw on some of it and delete real entries for
 * others).
 */
export const isKvEntry = (raw: unknown): raw is KvEntry => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false
  // A `__proto__` field decodes (lib0 `readAny`) as a prototype: fields read through it would
  // pass here, and the entry would encode again without them.
  const proto: unknown = Object.getPrototypeOf(raw)
  if (proto !== Object.prototype && proto !== null) return false
  const e = raw as Record<string, unknown>
  const key = e.key
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH || !isWellFormed(key)) return false
  if (e.val === undefined) return false
  if (e.owner !== undefined && typeof e.owner !== 'string') return false
  if (e.exp !== undefined && (typeof e.exp !== 'number' || !Number.isFinite(e.exp))) return false
  if (e.yields !== undefined && e.yields !== true) return false
  return true
}

/** The entry, when `raw` is a well-formed one (see {@link isKvEntry}). */
export const asKvEntry = (raw: unknown): KvEntry | undefined => (isKvEntry(raw) ? raw : undefined)

/** An entry and the id of its element in the array. */
export interface Slot {
  client: number
  clock: number
  entry: KvEntry
}
