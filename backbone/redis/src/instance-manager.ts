import type { BackboneHost } from '@mesh/core'
import type { Redis } from 'ioredis'
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

  constructor(host: BackboneHost, options: InstanceManagerOptions) {
    this.#host = host
    this.#o = options
  }

  /** True when `id` renewed its heartbeat in Redis lately (a node on this backbone). */
  onBackbone(id: string): boolean {
    return this.#live.has(id)
  }

  /** One round: renew this node's keys, read the others', drop the presence of the dead and clean them up. */
  async round(): Promise<void> {
    const { keys, redis } = this.#o
    const host = this.#host
    const started = Date.now()
    await this.renew()
    const ids = (await redis.zrange(keys.members, '0', String(MAX_MEMBERS - 1))).filter((id) => id !== host.id)
    const texts = ids.length > 0 ? await redis.mget(ids.map((id) => keys.heartbeat(id))) : []
    const records: unknown[] = []
    const live = new Set<string>()
    const silent = new Set<string>()
    ids.forEach((id, i) => {
      const text = texts[i]
      if (text === null || text === undefined) {
        silent.add(id)
        return
      }
      try {
        records.push(JSON.parse(text))
        live.add(id)
      } catch {
        host.count('backbone-bad-member')
      }
    })
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
    const { keys, redis } = this.#o
    const host = this.#host
    const ttl = Math.max(1, Math.round(host.deadAfterMs))
    const lights = host.lightMembers()
    const multi = redis
      .multi()
      .set(keys.heartbeat(host.id), JSON.stringify(host.self()), 'PX', ttl)
      .zadd(keys.members, Date.now(), host.id)
    if (lights.length > 0) multi.set(keys.lights(host.id), JSON.stringify(lights), 'PX', ttl)
    else multi.del(keys.lights(host.id))
    await multi.exec()
    this.#o.presence.renewed()
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
