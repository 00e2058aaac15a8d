/** Most addresses remembered from discovery; the ones offered longest ago go first. */
export const MAX_CANDIDATES = 1024

/**
 * Peer addresses discovery found that this node may dial (docs/membership.md, Discovery): a
 * node dials only as many as `maxPeers` allows and remembers the rest here, so a node whose
 * links fail can still reach the mesh when gossip names nobody it can dial. Insertion order
 * is the order of the latest offer.
 */
export class Candidates {
  /** URL → whether a dial to it failed before reaching a node since it was last offered. */
  #urls = new Map<string, boolean>()

  get size(): number {
    return this.#urls.size
  }

  /** Remembers these (normalized) URLs, as the newest and not failed. */
  add(urls: Iterable<string>): void {
    for (const url of urls) {
      this.#urls.delete(url)
      this.#urls.set(url, false)
    }
    for (const url of this.#urls.keys()) {
      if (this.#urls.size <= MAX_CANDIDATES) break
      this.#urls.delete(url)
    }
  }

  /**
   * Marks URLs whose dial failed before reaching a node (a stale DNS answer, a replaced pod):
   * they are picked again only by a node that has nothing else, until offered again.
   */
  failed(urls: Iterable<string>): void {
    for (const url of urls) if (this.#urls.has(url)) this.#urls.set(url, true)
  }

  /**
   * Up to `count` remembered URLs that `usable` accepts, in random order (`random` in [0, 1));
   * failed ones only with `failed: true`.
   */
  pick(count: number, usable: (url: string) => boolean, options: { random: () => number; failed: boolean }): string[] {
    if (count <= 0) return []
    const pool = [...this.#urls].filter(([url, failed]) => (options.failed || !failed) && usable(url))
    const picked: string[] = []
    while (picked.length < count && pool.length > 0) {
      const [entry] = pool.splice(Math.floor(options.random() * pool.length), 1)
      if (entry) picked.push(entry[0])
    }
    return picked
  }
}
