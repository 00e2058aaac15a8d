/** The sequence numbers of one origin seen lately: the highest, and a bitmap of the `window` below it. */
interface Window {
  max: number
  bits: Uint8Array
}

/**
 * The ids (origin, seq) of the pub/sub messages a node handled lately, so a message that
 * reaches it again over another path of the mesh is dropped. Per origin it keeps the highest
 * seq and a bitmap of the `window` seqs below it: no allocation per message, and bounded. A
 * flooded copy arrives within a few link latencies of the first, long before `window` newer
 * messages of the same origin. A seq further below the highest than that is taken for a
 * restart of the origin (its seqs start at a random number) and begins a new window.
 */
export class SeenIds {
  readonly window: number
  readonly maxOrigins: number
  #origins = new Map<string, Window>()

  constructor(options: { window: number; maxOrigins: number }) {
    // A whole number of bytes.
    this.window = Math.max(8, Math.ceil(options.window / 8) * 8)
    this.maxOrigins = options.maxOrigins
  }

  /** Origins tracked. */
  get size(): number {
    return this.#origins.size
  }

  /** True when (`origin`, `seq`) was recorded and is still in its window. */
  has(origin: string, seq: number): boolean {
    const w = this.#origins.get(origin)
    if (!w || seq > w.max || seq <= w.max - this.window) return false
    const slot = seq % this.window
    return ((w.bits[slot >> 3] ?? 0) & (1 << (slot & 7))) !== 0
  }

  /** Records (`origin`, `seq`). */
  add(origin: string, seq: number): void {
    let w = this.#origins.get(origin)
    if (!w) {
      if (this.#origins.size >= this.maxOrigins) {
        // Map iteration follows insertion: the first origin is the one first heard of.
        const oldest = this.#origins.keys().next()
        if (!oldest.done) this.#origins.delete(oldest.value)
      }
      w = { max: seq, bits: new Uint8Array(this.window / 8) }
      this.#origins.set(origin, w)
    } else if (seq > w.max || seq <= w.max - this.window) {
      this.#advance(w, seq)
    }
    const slot = seq % this.window
    w.bits[slot >> 3] = (w.bits[slot >> 3] ?? 0) | (1 << (slot & 7))
  }

  clear(): void {
    this.#origins.clear()
  }

  /** Moves the window up to `seq` (or starts a new one), forgetting the slots it reuses. */
  #advance(w: Window, seq: number): void {
    if (seq <= w.max || seq - w.max >= this.window) {
      w.bits.fill(0)
    } else {
      for (let s = w.max + 1; s <= seq; s++) {
        const slot = s % this.window
        w.bits[slot >> 3] = (w.bits[slot >> 3] ?? 0) & ~(1 << (slot & 7))
      }
    }
    w.max = seq
  }
}
