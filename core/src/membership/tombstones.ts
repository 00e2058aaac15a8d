import type { MemberRecord } from './member-record.js'

/** Earlier lives remembered per member id. */
export const MAX_RETIRED = 8

/** Most tombstones kept; the oldest go first. */
const MAX_TOMBSTONES = 10_000

/** What is left of a forgotten member: enough to refuse stale gossip about it. */
interface Tombstone {
  incarnation: string
  heartbeat: number
  retired: string[]
  until: number
}

/**
 * The members this node forgot (dead or left, past retention), each kept a while longer so
 * that gossip still circulating about them cannot bring them back as fresh members.
 */
export class Tombstones {
  #tombstones = new Map<string, Tombstone>()
  #retainMs: number

  constructor(options: { retainMs: number }) {
    this.#retainMs = options.retainMs
  }

  /** Number of tombstones held. */
  get size(): number {
    return this.#tombstones.size
  }

  /** Forgets a member, keeping what refuses stale news of it until `now` plus the retention. */
  bury(
    id: string,
    entry: { record: Pick<MemberRecord, 'incarnation' | 'heartbeat'>; retired: string[] },
    now: number,
  ): void {
    this.#tombstones.delete(id)
    this.#tombstones.set(id, {
      incarnation: entry.record.incarnation,
      heartbeat: entry.record.heartbeat,
      retired: entry.retired,
      until: now + this.#retainMs,
    })
    if (this.#tombstones.size > MAX_TOMBSTONES) {
      const oldest = this.#tombstones.keys().next().value
      if (oldest !== undefined) this.#tombstones.delete(oldest)
    }
  }

  /** True when `record` is stale news of a member this node already forgot: it must not come back as a fresh one. */
  stale(record: MemberRecord): boolean {
    const tombstone = this.#tombstones.get(record.id)
    return (
      tombstone !== undefined &&
      (tombstone.retired.includes(record.incarnation) ||
        (record.incarnation === tombstone.incarnation && (record.leaving || record.heartbeat <= tombstone.heartbeat)))
    )
  }

  /**
   * Removes the tombstone of a member that is back, returning the incarnations of its
   * earlier lives (whose news stays stale); none when it had no tombstone.
   */
  revive(record: Pick<MemberRecord, 'id' | 'incarnation'>): string[] {
    const tombstone = this.#tombstones.get(record.id)
    this.#tombstones.delete(record.id)
    if (!tombstone) return []
    return tombstone.incarnation !== record.incarnation
      ? [...tombstone.retired, tombstone.incarnation].slice(-MAX_RETIRED)
      : tombstone.retired
  }

  /** Removes a member's tombstone. */
  delete(id: string): void {
    this.#tombstones.delete(id)
  }

  /** Drops the tombstones whose time is over. */
  expire(now: number): void {
    for (const [id, tombstone] of this.#tombstones) if (tombstone.until <= now) this.#tombstones.delete(id)
  }
}
