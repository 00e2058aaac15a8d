/** Slots of the ring: call ids a ring apart that are in flight together go to the overflow map. */
const RING_SIZE = 4096

/**
 * The calls a router waits on, by call id. Ids are handed out in sequence and most calls end
 * within a few thousand ids, so a call lives in the ring slot of its id: no hash-table entry
 * made and dropped per call (a `Map` of tens of thousands of calls a second reallocated its
 * table every few hundred, and the tables outlived their calls long enough to be promoted).
 * A call whose slot is taken by one still waiting goes to a `Map`.
 */
export class InflightCalls<T extends { callId: number }> {
  #ring: Array<T | undefined> = new Array<T | undefined>(RING_SIZE).fill(undefined)
  #overflow = new Map<number, T>()
  #size = 0

  /** Calls waiting. */
  get size(): number {
    return this.#size
  }

  /** The call waiting with `callId`, if any. */
  get(callId: number): T | undefined {
    const slot = this.#ring[callId % RING_SIZE]
    if (slot !== undefined && slot.callId === callId) return slot
    return this.#overflow.size === 0 ? undefined : this.#overflow.get(callId)
  }

  /** Waits for `call` under its `callId` (not already waiting). */
  add(call: T): void {
    const index = call.callId % RING_SIZE
    if (this.#ring[index] === undefined) this.#ring[index] = call
    else this.#overflow.set(call.callId, call)
    this.#size++
  }

  /** Stops waiting for the call with `callId`; false when none waits. */
  delete(callId: number): boolean {
    const index = callId % RING_SIZE
    const slot = this.#ring[index]
    if (slot !== undefined && slot.callId === callId) this.#ring[index] = undefined
    else if (!this.#overflow.delete(callId)) return false
    this.#size--
    return true
  }

  /** Every waiting call, as a copy (safe to change the set while walking it). */
  values(): T[] {
    const calls: T[] = []
    if (this.#size === 0) return calls
    for (const call of this.#ring) if (call !== undefined) calls.push(call)
    for (const call of this.#overflow.values()) calls.push(call)
    return calls
  }
}
