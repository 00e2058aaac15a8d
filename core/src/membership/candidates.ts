/** Most addresses remembered from discovery; the ones offered longest ago go first. */
export const MAX_CANDIDATES = 1024

/**
 * Peer addresses discovery found that this node may dial (docs/membership.md, Discovery): a
 * node dials only as many as `maxPeers` allows and remembers the rest here, so a node whose
 * links fail can still reach the mesh when gossip names nobody it can dial. Insertion order
 * is the order of the latest offer.
 */
export class Candidates {
  #urls = new Set<string>()

  get size(): number {
    return this.#urls.size
  }

  /** Remembers these (normalized) URLs, as the newest. */
  add(urls: Iterable<string>): void {
    for (const url of urls) {
      this.#urls.delete(url)
      this.#urls.add(url)
    }
    for (const url of this.#urls) {
      if (this.#urls.size <= MAX_CANDIDATES) break
      this.#urls.delete(url)
    }
  }

  /** Up to `count` remembered URLs that `usable` accepts, in random order (`random` in [0, 1)). */
  pick(count: number, usable: (url: string) => boolean, random: () => number): string[] {
    if (count <= 0) return []
    const pool = [...this.#urls].filter(usable)
    const picked: string[] = []
    while (picked.length < count && pool.length > 0) {
      const [url] = pool.splice(Math.floor(random() * pool.length), 1)
      if (url !== undefined) picked.push(url)
    }
    return picked
  }
}
