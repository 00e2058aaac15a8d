/** One applied Yjs update: the unit of Mesh's commit history. */
export interface Commit {
  /** Increasing number of this commit on this node. */
  seq: number
  room: string
  /** Node id that authored it, when known; `light:<n>` for a light peer. */
  origin: string
  /** How it arrived: `local`, `peer:<id>`, `light:<n>` or `resolve`. */
  via: string
  /** Milliseconds since the epoch when this node applied it. */
  time: number
  /** Size of the encoded update (V2) in bytes. */
  bytes: number
  /** Keys of the room's `kv` map it touched. */
  keys: string[]
}

/** A bounded in-memory log of commits; the oldest are dropped first. */
export class CommitLog {
  #entries: Commit[] = []
  #start = 0
  #seq = 0
  readonly limit: number

  constructor(limit = 1000) {
    this.limit = Math.max(1, limit)
  }

  /** Appends a commit, assigning its sequence number. */
  add(commit: Omit<Commit, 'seq'>): Commit {
    const entry = { seq: ++this.#seq, ...commit }
    if (this.#entries.length < this.limit) this.#entries.push(entry)
    else {
      this.#entries[this.#start] = entry
      this.#start = (this.#start + 1) % this.limit
    }
    return entry
  }

  /** The most recent commits, oldest first, optionally filtered. */
  list(filter: { room?: string; origin?: string; key?: string; limit?: number } = {}): Commit[] {
    const ordered = [...this.#entries.slice(this.#start), ...this.#entries.slice(0, this.#start)]
    const matching = ordered.filter(
      (c) =>
        (filter.room === undefined || c.room === filter.room) &&
        (filter.origin === undefined || c.origin === filter.origin) &&
        (filter.key === undefined || c.keys.includes(filter.key)),
    )
    return filter.limit === undefined ? matching : matching.slice(-filter.limit)
  }

  /** Total commits ever added (including dropped ones). */
  get total(): number {
    return this.#seq
  }
}
