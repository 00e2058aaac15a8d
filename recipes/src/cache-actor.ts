/**
 * The owner side of the cache: the actor of capability {@link CACHE_CAPABILITY} for one
 * `<cache name>/<key>` runs on the member that owns its shard and decides who computes a
 * missing value, so that one caller in the cluster computes it while the others wait.
 */
import { MeshError, type Actor, type JsonValue, type MeshNode } from '@mesh/core'
import { holderLives } from './capability.js'

/** The capability whose owners arbitrate cache computations. */
export const CACHE_CAPABILITY = 'mesh.cache'

/** The store key of a cached value. */
export const cacheKey = (id: string): string => `mesh.cache/${id}`

/** A cached value as stored: the value and until when it is fresh (ms since the epoch, writer's clock). */
export interface CacheRecord {
  value: JsonValue
  freshUntil: number
}

/** The owner's answer to `begin`: a fresh value, or who computes. */
export type BeginAnswer =
  { state: 'ready'; value: JsonValue; freshUntil: number } | { state: 'compute' } | { state: 'wait' }

/** Reads a stored record, if well formed. */
export const readCacheRecord = (node: MeshNode, id: string): CacheRecord | undefined => {
  const raw = node.get(cacheKey(id))
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !('value' in raw)) return undefined
  const { value, freshUntil } = raw
  return typeof freshUntil === 'number' ? { value, freshUntil } : undefined
}

/** Starts the owner-side actor of cache entry `id` on `node`. */
export const cacheActor = (node: MeshNode, id: string): Actor => {
  /** The computation in progress: which node, which flight, and when it gives up. */
  let flight: { node: string; flight: string; deadline: number } | undefined
  /**
   * The last value a flight ended with: the `end` message can overtake the store's copy of the
   * value (they travel separately), and a caller asking in between must not compute again.
   */
  let last: CacheRecord | undefined
  return {
    call(payload) {
      const p = (typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? payload : {}) as Record<
        string,
        unknown
      >
      if (typeof p.flight !== 'string' || typeof p.node !== 'string')
        throw new MeshError('bad_request', 'not a cache request')
      const now = Date.now()
      if (p.op === 'end') {
        if (flight?.flight === p.flight) flight = undefined
        if (typeof p.freshUntil === 'number' && p.value !== undefined) {
          last = { value: p.value as JsonValue, freshUntil: p.freshUntil }
        }
        return null
      }
      if (p.op !== 'begin' || typeof p.computeTimeoutMs !== 'number')
        throw new MeshError('bad_request', 'not a cache request')
      const stored = readCacheRecord(node, id)
      if (stored && stored.freshUntil > now) return { state: 'ready', ...stored }
      if (last && last.freshUntil > now) return { state: 'ready', ...last }
      last = undefined
      if (flight && (flight.deadline <= now || !holderLives(node, flight.node, null))) flight = undefined
      if (flight) return { state: 'wait' }
      flight = { node: p.node, flight: p.flight, deadline: now + Math.min(Math.max(p.computeTimeoutMs, 1), 600_000) }
      return { state: 'compute' }
    },
  }
}
