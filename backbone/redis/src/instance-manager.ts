import type { BackboneHost } from '@mesh/core'
import type { ChainableCommander, Redis } from 'ioredis'
import type { Keys } from './keys.js'
import { withLock } from './lock.js'

/** Most member records read per round; a fleet past it is read in part (the oldest heartbeats first). */
const MAX_MEMBERS = 10_000

/** The presence channel as the instance manager sees it (see Presence). */
export interface PresenceSenders {
  /** This node's heartbeat was written. */
  renewed(): void
  /** Nodes this node holds presence from. */
  senders(): string[]
  /** `id` was found dead by a round that began at `since`; `registered`: its registration was stale (otherwise none). */
  dead(id: string, since: number, registered: boolean): void
}

/** What the instance manager needs from the backbone around it. */
export interface InstanceManagerOptions {
  keys: Keys
  redis: Redis
  /** Counters of the backbone. */
  stats: { cleanups: number }
  presence: PresenceSenders
}

/**
 * Membership through Redis: each node renews a heartbeat key (its member record, with a TTL
 * of `deadAfterMs`) and its light peers' presence; every round it reads the others' records
 * into failure detection, as gossip would. A node whose heartbeat expired is cleaned up
 * exactly once, by whichever node takes its Redis lock first: its ephemeral keys are removed
 * in every room, its presence deleted and its registration dropped. Presence applied from a
 * node is per-node state: every node drops a dead node's presence itself, at the first round
 * that finds it dead.
 */
export class InstanceManager {
  #host: BackboneHost
  #o: InstanceManagerOptions
  /** Ids whose heartbeat key was present at the last round: nodes on this backbone. */
  #live = new Set<string>()
  /** Nodes registered at the last round (this one aside): their records are read with the renewal. */
  #known: string[] = []

  constructor(host: BackboneHost, options: InstanceManagerOptions) {
    this.#host = host
    this.#o = options
  }

  /** True when `id` renewed its heartbeat in Redis lately (a node on this backbone). */
  onBackbone(id: string): boolean {
    return this.#live.has(id)
  }

  /**
   * One round: renew this node's keys, read the others', drop the presence of the dead and clean
   * them up. The renewal, the registry and the records of the nodes registered at the last round
   * go in one pipeline: an idle round is one write and one read (a second read only for nodes new since).
   */
  async round(): Promise<void> {
    const { keys, redis } = this.#o
    const host = this.#host
    const started = Date.now()
    const known = this.#known
    const pipeline = this.#renewal(redis.pipeline()).zrange(keys.members, '0', String(MAX_MEMBERS - 1))
    if (known.length > 0) pipeline.mget(known.map((id) => keys.heartbeat(id)))
    const replies = await pipeline.exec()
    const failed = replies?.find(([error]) => error)?.[0]
    if (!replies || failed) throw failed ?? new Error('the heartbeat pipeline was not run')
    this.#o.presence.renewed()
    const registered = replies[replies.length - (known.length > 0 ? 2 : 1)]?.[1]
    const ids = (Array.isArray(registered) ? (registered as string[]) : []).filter((id) => id !== host.id)
    const texts = new Map<string, unknown>()
    const knownTexts = known.length > 0 ? replies[replies.length - 1]?.[1] : undefined
    if (Array.isArray(knownTexts)) known.forEach((id, i) => texts.set(id, knownTexts[i]))
    const unread = ids.filter((id) => !texts.has(id))
    if (unread.length > 0) {
      const more = await redis.mget(unread.map((id) => keys.heartbeat(id)))
      unread.forEach((id, i) => texts.set(id, more[i]))
    }
    this.#known = ids
    const records: unknown[] = []
    const live = new Set<string>()
    const silent = new Set<string>()
    for (const id of ids) {
      const text = texts.get(id)
      if (typeof text !== 'string') {
        silent.add(id)
        continue
      }
      try {
        records.push(JSON.parse(text))
        live.add(id)
      } catch {
        host.count('backbone-bad-member')
      }
    }
    this.#live = live
    if (records.length > 0) host.receiveMembers(records)
    // Senders with no heartbeat: dead, cleaned up by someone already, or never on this backbone.
    for (const id of this.#o.presence.senders()) if (!live.has(id) && id !== host.id) silent.add(id)
    if (silent.size === 0) return
    const silentIds = [...silent]
    const scores = await redis.zmscore(keys.members, ...silentIds)
    const ttl = Math.max(1, Math.round(host.deadAfterMs))
    for (const [i, id] of silentIds.entries()) {
      const score = scores[i] ?? null
      // A heartbeat key that expired just now may still be in flight being renewed: wait out a TTL.
      if (score !== null && Date.now() - Number(score) <= ttl) continue
      this.#o.presence.dead(id, started, score !== null)
      if (score !== null) await this.clean(id)
    }
  }

  /** Renews this node's heartbeat, registration and light peers' presence. */
  async renew(): Promise<void> {
    await this.#renewal(this.#o.redis.multi()).exec()
    this.#o.presence.renewed()
  }

  /** Adds the renewal of this node's heartbeat, registration and light peers' presence to `batch`. */
  #renewal<T extends ChainableCommander>(batch: T): T {
    const { keys } = this.#o
    const host = this.#host
    const ttl = Math.max(1, Math.round(host.deadAfterMs))
    const lights = host.lightMembers()
    batch.set(keys.heartbeat(host.id), JSON.stringify(host.self()), 'PX', ttl).zadd(keys.members, Date.now(), host.id)
    if (lights.length > 0) batch.set(keys.lights(host.id), JSON.stringify(lights), 'PX', ttl)
    else batch.del(keys.lights(host.id))
    return batch
  }

  /**
   * Cleans up after a node whose heartbeat expired, unless another node did or does: under the
   * node's clean lock, and only while it is still registered and still silent. Returns true
   * when this call did the cleanup.
   */
  async clean(id: string): Promise<boolean> {
    const { keys, redis } = this.#o
    const host = this.#host
    const done = await withLock(redis, keys.cleanLock(id), 30_000, async () => {
      const [registered, beating] = await Promise.all([
        redis.zscore(keys.members, id),
        redis.exists(keys.heartbeat(id)),
      ])
      if (registered === null || beating === 1) return false
      const removed = host.removeEphemeral(id)
      await redis.multi().del(keys.lights(id)).zrem(keys.members, id).exec()
      this.#o.stats.cleanups++
      host.logger.info('cleaned up a dead node', { member: id, ephemeralKeys: removed })
      return true
    })
    return done === true
  }

  /** Light peers every live node on the backbone reports, by node id. */
  async lightPresence(): Promise<Map<string, unknown[]>> {
    const { keys, redis } = this.#o
    const ids = await redis.zrange(keys.members, '0', String(MAX_MEMBERS - 1))
    const presence = new Map<string, unknown[]>()
    if (ids.length === 0) return presence
    const texts = await redis.mget(ids.map((id) => keys.lights(id)))
    ids.forEach((id, i) => {
      const text = texts[i]
      if (typeof text !== 'string') return
      try {
        const parsed: unknown = JSON.parse(text)
        if (Array.isArray(parsed)) presence.set(id, parsed)
      } catch {
        this.#host.count('backbone-bad-presence')
      }
    })
    return presence
  }
}
