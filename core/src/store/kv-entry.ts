import { isWellFormed } from '../common/index.js'
import { MAX_KEY_LENGTH, type KvEntry } from './kv-index.js'

/**
 * True when `raw` is a well-formed entry of the store's array: an object (not an array) with a
 * non-empty `key` of at most {@link MAX_KEY_LENGTH} well-formed UTF-16 code units, a `val`, an
 * `owner` that is absent or a string, and an `exp` that is absent or a finite number. Replicas
 * ignore anything else in the array; light peers may not write it (stock y-utility clients
 * throw on some of it and delete real entries for others).
 */
export const isKvEntry = (raw: unknown): raw is KvEntry => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false
  const e = raw as Record<string, unknown>
  const key = e.key
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH || !isWellFormed(key)) return false
  if (e.val === undefined) return false
  if (e.owner !== undefined && typeof e.owner !== 'string') return false
  if (e.exp !== undefined && (typeof e.exp !== 'number' || !Number.isFinite(e.exp))) return false
  return true
}

/** The entry, when `raw` is a well-formed one (see {@link isKvEntry}). */
export const asKvEntry = (raw: unknown): KvEntry | undefined => (isKvEntry(raw) ? raw : undefined)
