import { randomUUID } from 'node:crypto'
import { MeshError, type JsonValue, type MeshNode, errorText } from '@mesh/core'

/** How counters travel between nodes: `node` itself (pub/sub), or anything with the same two methods. */
export interface MessageBus {
  publish(topic: string, payload: JsonValue): unknown
  subscribe(topic: string, handler: (payload: JsonValue) => void): () => void
}

/** Options of {@link rateLimiter}. */
export interface RateLimiterOptions {
  /** The limiter's name: nodes that use the same name share the limit. */
  name: string
  /** How many units every key may take per window, cluster-wide. */
  limit: number
  /** The window, in ms; windows are aligned on the epoch (by each node's clock). */
  windowMs: number
  /**
   * How long a node collects its counter changes before it publishes them, in ms. Default 10.
   * Part of the propagation delay `d` of the overshoot bound (docs/recipes/rate-limiter.md).
   */
  syncMs?: number
  /** The message bus; default `node` (its `publish`/`subscribe`). */
  bus?: MessageBus
  /**
   * How far another node's clock may run ahead, in ms. Default 1000 (at most `windowMs`).
   * Counts for the next window are taken only this close to its start: earlier ones can only
   * come from a bad clock or a forger, who would block a key for the next window in advance.
   */
  maxClockSkewMs?: number
}

/** The answer of {@link RateLimiter.take}. */
export interface TakeResult {
  allowed: boolean
  /** Units left in this window, as far as this node knows. */
  remaining: number
  /** Milliseconds until the window ends and the counters start again. */
  resetMs: number
}

/** What a limiter has seen of the others: see {@link RateLimiter.stats}. */
export interface RateLimiterStats {
  /** Counter messages published and received. */
  published: number
  received: number
  /**
   * The longest time a received message took from its publication to this node, in ms, by
   * the two nodes' clocks (meaningful when they agree, e.g. on one machine).
   */
  maxTransitMs: number
}

/** A cluster-wide rate limiter: see {@link rateLimiter}. */
export interface RateLimiter {
  /** Takes `n` units (default 1) for `key` in the current window: decided here, with no network round trip. */
  take(key: string, n?: number): TakeResult
  /** Message counts and the longest transit seen. */
  stats(): RateLimiterStats
  /** Stops publishing and listening. */
  close(): void
}

/** Counts of one window: per key, per node, the units that node took (grow-only). */
type WindowCounts = Map<string, Map<string, number>>

/** A counter message: one node's totals, for the keys it changed, in one window. */
interface CounterMessage {
  node: string
  window: number
  at: number
  counts: Record<string, number>
  /** Set by a limiter that just started: every node answers with all the counts it knows. */
  ask?: true
}

const parseMessage = (raw: JsonValue): CounterMessage | undefined => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined
  const { node, window, at, counts } = raw
  if (typeof node !== 'string' || !Number.isSafeInteger(window) || typeof at !== 'number') return undefined
  if (typeof counts !== 'object' || counts === null || Array.isArray(counts)) return undefined
  const message: CounterMessage = { node, window: window as number, at, counts: counts as Record<string, number> }
  if (raw.ask === true) message.ask = true
  return message
}

/**
 * A cluster-wide rate limiter (docs/recipes/rate-limiter.md): every node counts what it lets
 * through per key and per window, and publishes its own counts (grow-only, merged by max) as
 * mesh messages every `syncMs`; `take` decides from what this node knows, at once. Counters
 * never go into a Y.Doc, and windows older than the current one are dropped.
 *
 * @example
 * const limiter = rateLimiter(node, { name: 'api', limit: 100, windowMs: 1000 })
 * const { allowed, resetMs } = limiter.take(customerId)
 * if (!allowed) return res.status(429).set('retry-after', String(Math.ceil(resetMs / 1000))).end()
 */
export const rateLimiter = (node: MeshNode, options: RateLimiterOptions): RateLimiter => {
  const { name, limit, windowMs, syncMs = 10, bus = node, maxClockSkewMs = 1000 } = options
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw new MeshError('bad_option', 'name must be a string of 1 to 200 characters')
  }
  for (const [option, value] of Object.entries({ limit, windowMs, syncMs, maxClockSkewMs })) {
    const least = option === 'syncMs' || option === 'maxClockSkewMs' ? 0 : 1
    if (!Number.isSafeInteger(value) || value < least) {
      throw new MeshError(
        'bad_option',
        `${option} must be a whole number (at least 1; syncMs, maxClockSkewMs at least 0)`,
      )
    }
  }
  const skewMs = Math.min(maxClockSkewMs, windowMs)
  const topic = `mesh.ratelimit/${name}`
  // One counter per limiter instance, not per node id: a node restarted with the same id
  // must add to what its previous life took, not hide behind it (counts merge by max).
  const self = `${node.id}/${randomUUID()}`
  /** Counts by window: the current one and, from nodes whose clock runs ahead, the next. */
  const windows = new Map<number, WindowCounts>()
  /** Keys whose own count changed since the last publication, by window. */
  let dirty = new Map<number, Set<string>>()
  let timer: ReturnType<typeof setTimeout> | undefined
  let closed = false
  /** A peer came up or a limiter started: send every count of the current window, once. */
  let resendAll = false
  const stats: RateLimiterStats = { published: 0, received: 0, maxTransitMs: 0 }

  const countsOf = (window: number): WindowCounts => {
    let counts = windows.get(window)
    if (!counts) {
      const current = Math.floor(Date.now() / windowMs)
      for (const w of windows.keys()) if (w < current) windows.delete(w)
      windows.set(window, (counts = new Map<string, Map<string, number>>()))
    }
    return counts
  }

  const send = (message: CounterMessage): void => {
    try {
      bus.publish(topic, { ...message })
      stats.published++
    } catch (error) {
      node.logger.warn('rate limiter: could not publish counters', { limiter: name, error: errorText(error) })
    }
  }

  /** Every count this node knows of the current window, its own and the others', one message per counter. */
  const sendAll = (window: number): void => {
    const byNode = new Map<string, Record<string, number>>()
    for (const [key, perNode] of windows.get(window) ?? []) {
      for (const [id, value] of perNode) {
        let counts = byNode.get(id)
        if (!counts) byNode.set(id, (counts = {}))
        counts[key] = value
      }
    }
    for (const [id, counts] of byNode) send({ node: id, window, at: Date.now(), counts })
  }

  const publish = (): void => {
    timer = undefined
    const batches = dirty
    dirty = new Map()
    const current = Math.floor(Date.now() / windowMs)
    if (resendAll) {
      resendAll = false
      sendAll(current)
      batches.delete(current)
    }
    for (const [window, keys] of batches) {
      if (window < current) continue
      const counts: Record<string, number> = {}
      const perKey = windows.get(window)
      for (const key of keys) counts[key] = perKey?.get(key)?.get(self) ?? 0
      send({ node: self, window, at: Date.now(), counts })
    }
  }

  const schedule = (): void => {
    if (timer !== undefined || closed) return
    timer = setTimeout(publish, syncMs)
    timer.unref()
  }

  // Counts published while a link was down never arrived, and a node that (re)started knows
  // none: a peer that comes (back) up, or a limiter that asks, gets every count of the window
  // this node knows, its own and the others' (a replaced node's too). Merged by max, a repeat
  // changes nothing; asks are coalesced into one resend per `syncMs`.
  const wantAll = (): void => {
    resendAll = true
    schedule()
  }
  const offPeer = node.on('peer:up', wantAll)

  const off = bus.subscribe(topic, (payload) => {
    const message = parseMessage(payload)
    if (!message || message.node === self) return
    if (message.ask) wantAll()
    const now = Date.now()
    const current = Math.floor(now / windowMs)
    // Old windows are over. A window beyond the next one, or the next one long before it
    // starts, is a bad clock or a forger blocking a key in advance.
    if (message.window < current || message.window > current + 1) return
    if (message.window > current && (current + 1) * windowMs - now > skewMs) return
    stats.received++
    // A sender's clock (or a hostile one) may say anything: only a plausible transit counts.
    const transit = now - message.at
    if (transit >= 0 && transit <= windowMs) stats.maxTransitMs = Math.max(stats.maxTransitMs, transit)
    const counts = countsOf(message.window)
    for (const [key, value] of Object.entries(message.counts)) {
      // One instance never takes more than the limit in a window: a larger count is forged.
      if (!Number.isSafeInteger(value) || value <= 0 || value > limit) continue
      let perNode = counts.get(key)
      if (!perNode) counts.set(key, (perNode = new Map<string, number>()))
      if (value > (perNode.get(message.node) ?? 0)) perNode.set(message.node, value)
    }
  })

  send({ node: self, window: Math.floor(Date.now() / windowMs), at: Date.now(), counts: {}, ask: true })

  return {
    take(key, n = 1) {
      if (!Number.isSafeInteger(n) || n < 1) throw new MeshError('bad_request', 'n must be a whole number, at least 1')
      const now = Date.now()
      const window = Math.floor(now / windowMs)
      const resetMs = (window + 1) * windowMs - now
      const counts = countsOf(window)
      let perNode = counts.get(key)
      let used = 0
      if (perNode) for (const value of perNode.values()) used += value
      if (used + n > limit || closed) return { allowed: false, remaining: Math.max(0, limit - used), resetMs }
      if (!perNode) counts.set(key, (perNode = new Map<string, number>()))
      perNode.set(self, (perNode.get(self) ?? 0) + n)
      let keys = dirty.get(window)
      if (!keys) dirty.set(window, (keys = new Set()))
      keys.add(key)
      schedule()
      return { allowed: true, remaining: limit - used - n, resetMs }
    },
    stats: () => ({ ...stats }),
    close() {
      closed = true
      clearTimeout(timer)
      off()
      offPeer()
      windows.clear()
    },
  }
}
