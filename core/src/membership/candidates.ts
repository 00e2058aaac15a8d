/** Most addresses remembered from discovery; the ones offered longest ago go first. */
export const MAX_CANDIDATES = 1024

/** Wait before an address whose dial failed may be dialed again, doubling per failure up to {@link MAX_RETRY_MS}. */
const MIN_RETRY_MS = 250
/** Longest wait between dials of an address that keeps failing: the peer dialer's own longest backoff. */
const MAX_RETRY_MS = 5000

interface Candidate {
  /** A dial to it failed before reaching a node since it was last offered. */
  failed: boolean
  /** Failed dials in a row, whatever offers came between: its backoff. */
  failures: number
  /** Not dialed again before this time (ms since the epoch). */
  retryAt: number
  /** The node it last reached, if it reached one. */
  member?: string | undefined
}

/** How {@link Candidates.pick} picks. */
export interface PickOptions {
  /** In [0, 1). */
  random: () => number
  /** Also addresses whose dial failed since they were last offered. */
  failed: boolean
  now: number
}

/**
 * Peer addresses discovery found that this node may dial (docs/membership.md, Discovery): a
 * node dials only as many as `maxPeers` allows and remembers the rest here, so a node whose
 * links fail can still reach the mesh when gossip names nobody it can dial. Insertion order
 * is the order of the latest offer. An address whose dial failed waits before it is picked
 * again, longer after every failure: a node left alone with stale addresses (the first pod
 * while DNS still lists replaced ones) dials each a few times a minute, not on every heartbeat.
 */
export class Candidates {
  #urls = new Map<string, Candidate>()

  get size(): number {
    return this.#urls.size
  }

  /** Remembers these (normalized) URLs as the newest, no longer failed; their backoff stays. */
  add(urls: Iterable<string>): void {
    for (const url of urls) {
      const known = this.#urls.get(url)
      this.#urls.delete(url)
      this.#urls.set(url, {
        failed: false,
        failures: known?.failures ?? 0,
        retryAt: known?.retryAt ?? 0,
        member: known?.member,
      })
    }
    for (const url of this.#urls.keys()) {
      if (this.#urls.size <= MAX_CANDIDATES) break
      this.#urls.delete(url)
    }
  }

  /**
   * Marks URLs whose dial failed before reaching a node (a stale DNS answer, a replaced pod):
   * they are picked again only by a node that has nothing else, or once offered again, and
   * either way not before their backoff ran out.
   */
  failed(urls: Iterable<string>, now: number): void {
    for (const url of urls) {
      const candidate = this.#urls.get(url)
      if (!candidate) continue
      candidate.failed = true
      candidate.retryAt = now + Math.min(MAX_RETRY_MS, MIN_RETRY_MS * 2 ** candidate.failures)
      candidate.failures++
    }
  }

  /** Forgets the failures of `url`: it reached a node, `member` (undefined: this node). */
  reached(url: string, member: string | undefined): void {
    const candidate = this.#urls.get(url)
    if (candidate) Object.assign(candidate, { failed: false, failures: 0, retryAt: 0, member })
  }

  /** The node `url` last reached, if it reached one. */
  memberOf(url: string): string | undefined {
    return this.#urls.get(url)?.member
  }

  /** Up to `count` remembered URLs that `usable` accepts and whose backoff ran out, in random order. */
  pick(count: number, usable: (url: string) => boolean, options: PickOptions): string[] {
    if (count <= 0) return []
    const pool = [...this.#urls].filter(
      ([url, c]) => (options.failed || !c.failed) && c.retryAt <= options.now && usable(url),
    )
    const picked: string[] = []
    while (picked.length < count && pool.length > 0) {
      const [entry] = pool.splice(Math.floor(options.random() * pool.length), 1)
      if (entry) picked.push(entry[0])
    }
    return picked
  }
}
