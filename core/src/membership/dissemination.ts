import type { MemberNews } from './member-record.js'

/** Most news items attached to one outgoing membership message. */
export const MAX_NEWS_PER_MESSAGE = 8

/** Most news items held; past it the most-sent go first. */
const MAX_HELD = 512

interface Held {
  news: MemberNews
  sent: number
}

/**
 * The recent membership changes this node still spreads, SWIM style: each rides on the
 * messages the node sends anyway (probes, acks) a bounded number of times, about
 * `λ · log2(n + 1)` for a cluster of n, the least-sent first. Newer news of a member replaces
 * older news of it. An empty buffer costs nothing: an idle cluster sends no news at all.
 */
export class Dissemination {
  #held = new Map<string, Held>()
  #multiplier: number

  constructor(options: { multiplier?: number } = {}) {
    this.#multiplier = options.multiplier ?? 3
  }

  /** Items waiting to be sent. */
  get size(): number {
    return this.#held.size
  }

  /** Queues news of a member, replacing what was queued about it. */
  add(news: MemberNews): void {
    this.#held.delete(news.record.id)
    this.#held.set(news.record.id, { news, sent: 0 })
    if (this.#held.size > MAX_HELD) {
      let worst: string | undefined
      let most = -1
      for (const [id, held] of this.#held) if (held.sent > most) [worst, most] = [id, held.sent]
      if (worst !== undefined) this.#held.delete(worst)
    }
  }

  /** Takes up to {@link MAX_NEWS_PER_MESSAGE} items for one message to a cluster of `members`, counting them sent. */
  take(members: number): MemberNews[] {
    if (this.#held.size === 0) return []
    const limit = Math.max(1, Math.ceil(this.#multiplier * Math.log2(members + 1)))
    const chosen = [...this.#held.values()].sort((a, b) => a.sent - b.sent).slice(0, MAX_NEWS_PER_MESSAGE)
    for (const held of chosen) {
      held.sent++
      if (held.sent >= limit) this.#held.delete(held.news.record.id)
    }
    return chosen.map((held) => held.news)
  }

  /** Forgets everything queued (the node is leaving). */
  clear(): void {
    this.#held.clear()
  }
}
