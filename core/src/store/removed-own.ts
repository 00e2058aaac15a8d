import type { Slot } from './kv-entry.js'

/** Most removed entries remembered (the most recent ones). */
const MAX_REMOVED = 1000

/**
 * This node's entries that a remote transaction removed while no live entry of the key was
 * left, by key. In a full mesh the relay that resolved a race can send its deletion of this
 * node's losing entry before the winner arrives over a slower direct link (relays skip a peer
 * that gets the write from its writer): the winner then finds no entry of ours to be judged
 * against, and the race would go unreported. A write that arrives later is judged against the
 * removed entry as if it were live (array-order.ts `unseenBy`: a writer that had seen it, even
 * deleted, wrote after it). Forgotten once any entry of the key is live here again.
 */
export class RemovedOwn {
  #keys = new Map<string, Slot>()

  get(key: string): Slot | undefined {
    return this.#keys.get(key)
  }

  /**
   * After a transaction: forgets the keys it left live (`changed`), and remembers the entries
   * of `removed` (own entries it removed, by key) whose key it left without a live entry.
   */
  note(removed: ReadonlyMap<string, Slot>, changed: readonly string[], isLive: (key: string) => boolean): void {
    if (this.#keys.size > 0) for (const key of changed) if (isLive(key)) this.#keys.delete(key)
    for (const [key, slot] of removed) {
      if (isLive(key)) continue
      this.#keys.delete(key)
      this.#keys.set(key, slot)
      if (this.#keys.size > MAX_REMOVED) {
        const oldest = this.#keys.keys().next().value
        if (oldest !== undefined) this.#keys.delete(oldest)
      }
    }
  }
}
