import { MeshError, type JsonValue, type MeshNode, errorText } from '@mesh/core'
import { CACHE_CAPABILITY, cacheActor, cacheKey, readCacheRecord, type BeginAnswer } from './cache-actor.js'
import { declareCapability } from './capability.js'

/** Options of {@link cache}. */
export interface CacheOptions {
  /** Cache name: keys of different caches never mix. Default `default`. */
  name?: string
  /** How long a computed value is fresh, in ms. */
  ttlMs: number
  /**
   * How long past its TTL a value may still be served while one caller recomputes it, in ms.
   * Default 0: callers wait for the new value.
   */
  staleMs?: number
  /** How long the other callers wait for a computation before one of them takes over, in ms. Default 30000. */
  computeTimeoutMs?: number
  /** Deadline of each call to a key's owner, in ms. Default 5000. */
  callTimeoutMs?: number
}

/** A cluster-wide cache: see {@link cache}. */
export interface Cache {
  /**
   * The fresh value of `key`, or `compute()`'s result. Across the cluster one caller computes a
   * missing or expired value while the others wait for it (or get the stale value within
   * `staleMs`). A failing `compute` rejects its caller; a waiting caller then computes.
   */
  getOrCompute<T extends JsonValue>(key: string, compute: () => T | Promise<T>): Promise<T>
  /** Removes `key` everywhere; the next `getOrCompute` computes it again. */
  invalidate(key: string): Promise<void>
}

const ASK_AGAIN_MS = 250

/**
 * A cache with single-flight computation across the cluster (docs/recipes/cache.md). The
 * owner of each key (capability `mesh.cache`, declared on this node by the first call) decides
 * which caller computes a missing value; the value goes into the store with a TTL, so every
 * node reads it locally until it expires.
 *
 * @example
 * const users = cache(node, { name: 'users', ttlMs: 60_000 })
 * const profile = await users.getOrCompute(`user:${id}`, () => db.loadProfile(id))
 */
export const cache = (node: MeshNode, options: CacheOptions): Cache => {
  const { name = 'default', ttlMs, staleMs = 0, computeTimeoutMs = 30_000, callTimeoutMs = 5000 } = options
  for (const [option, value] of Object.entries({ ttlMs, staleMs, computeTimeoutMs })) {
    if (!Number.isInteger(value) || value < (option === 'staleMs' ? 0 : 1) || value > 2 ** 31 - 1 - ttlMs) {
      throw new MeshError('bad_option', `${option} must be a whole number of milliseconds`)
    }
  }
  declareCapability(node, CACHE_CAPABILITY, () => node.actor(CACHE_CAPABILITY, (id) => cacheActor(node, id)))
  /** This node's callers of one key share one flight. */
  const local = new Map<string, Promise<JsonValue>>()

  const idOf = (key: string) => {
    if (typeof key !== 'string' || key.length === 0 || key.length > 900) {
      throw new MeshError('bad_request', 'a cache key is a string of 1 to 900 characters')
    }
    return `${name}/${key}`
  }

  /** Resolves when the key changes here, or after a while to ask the owner again. */
  const changeOrTimeout = (id: string): Promise<void> =>
    new Promise((resolve) => {
      const key = cacheKey(id)
      const timer = setTimeout(done, ASK_AGAIN_MS)
      const off = node.on('change', (event) => {
        if (event.keys.includes(key)) done()
      })
      function done() {
        clearTimeout(timer)
        off()
        resolve()
      }
    })

  const resolveValue = async (id: string, compute: () => JsonValue | Promise<JsonValue>): Promise<JsonValue> => {
    const flight = globalThis.crypto.randomUUID()
    const deadline = Date.now() + computeTimeoutMs + callTimeoutMs
    for (;;) {
      const now = Date.now()
      const stored = readCacheRecord(node, id)
      if (stored && stored.freshUntil > now) return stored.value
      const answer = await node.call<BeginAnswer & { [k: string]: JsonValue }>({
        capability: CACHE_CAPABILITY,
        id,
        payload: { op: 'begin', node: node.id, flight, computeTimeoutMs },
        timeoutMs: callTimeoutMs,
      })
      if (answer.state === 'ready') return answer.value
      if (answer.state === 'compute') {
        // The value travels with `end` too: it may reach the owner before the store's copy does.
        const ended: Record<string, JsonValue> = { op: 'end', node: node.id, flight }
        try {
          const value = await compute()
          const freshUntil = Date.now() + ttlMs
          await node.put(cacheKey(id), { value, freshUntil }, { ttl: ttlMs + staleMs })
          Object.assign(ended, { value, freshUntil })
          return value
        } finally {
          try {
            node.cast({ capability: CACHE_CAPABILITY, id, payload: ended })
          } catch (error) {
            // The owner forgets the flight at its deadline anyway.
            node.logger.debug('cache: could not end a flight', { id, error: errorText(error) })
          }
        }
      }
      // Someone else computes: a stale value will do, if allowed; else wait for the new one.
      if (stored && staleMs > 0) return stored.value
      if (Date.now() > deadline)
        throw new MeshError('timeout', `no value for cache key "${id}" within ${computeTimeoutMs} ms`)
      await changeOrTimeout(id)
    }
  }

  return {
    async getOrCompute<T extends JsonValue>(key: string, compute: () => T | Promise<T>): Promise<T> {
      const id = idOf(key)
      const stored = readCacheRecord(node, id)
      if (stored && stored.freshUntil > Date.now()) return stored.value as T
      let pending = local.get(id)
      if (!pending) {
        pending = resolveValue(id, compute).finally(() => local.delete(id))
        local.set(id, pending)
      }
      return (await pending) as T
    },
    async invalidate(key) {
      await node.pop(cacheKey(idOf(key)))
    },
  }
}
