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
 * messages of the same origin. A seq further below the highest than that counts as seen: it
 * can only be a copy that was very late (delivering it, or starting a new window from it,
 * would deliver it and the copies still in flight a second time). A restarted origin is not
 * confused with one: its seqs start from its clock ({@link firstSeq}), above its previous life's.
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

  /** True when (`origin`, `seq`) was recorded and is still in its window, or is further behind than the window. */
  has(origin: string, seq: number): boolean {
    const w = this.#origins.get(origin)
    if (!w || seq > w.max) return false
    if (seq <= w.max - this.window) return true
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
    } else if (seq > w.max) {
      this.#advance(w, seq)
    } else if (seq <= w.max - this.window) {
      return
    }
    const slot = seq % this.window
    w.bits[slot >> 3] = (w.bits[slot >> 3] ?? 0) | (1 << (slot & 7))
  }

  clear(): void {
    this.#origins.clear()
  }

  /** Moves the window up to `seq`, forgetting the slots it reuses. */
  #advance(w: Window, seq: number): void {
    if (seq - w.max >= this.window) {
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

/**
 * How many seqs a publisher may use per millisecond of its life before a restart could start
 * below where it stopped (2048 a ms is 2 million messages a second, sustained).
 */
const SEQS_PER_MS = 2048

/**
 * Where a publisher's seqs start: from its clock, so a node restarted with the same id starts
 * above every seq of its previous life ({@link SeenIds} drops seqs far below the highest).
 * Safe integers last until the year 2109.
 */
export const firstSeq = (now: number = Date.now()): number => Math.floor(now) * SEQS_PER_MS
