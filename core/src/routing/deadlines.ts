import { unrefTimer } from '../common/index.js'

/** Deadlines that fall in the same slot of this many ms expire together (never before they are due). */
export const DEADLINE_SLOT_MS = 10

/** Something that can wait for a deadline: the slot it waits in and its neighbours there are kept on it. */
export interface Expiring {
  /** The slot this item waits in, or undefined while it waits in none. */
  slot: number | undefined
  /** The items before and after it in its slot's list (kept by `Deadlines`). */
  prevDue: Expiring | undefined
  nextDue: Expiring | undefined
}

/** Unthreads a slot's list from `first` on; returns its items. */
const detach = (first: Expiring): Expiring[] => {
  const items: Expiring[] = []
  for (let item: Expiring | undefined = first; item;) {
    const next: Expiring | undefined = item.nextDue
    item.slot = item.prevDue = item.nextDue = undefined
    items.push(item)
    item = next
  }
  return items
}

/**
 * One timer for many deadlines (a timer wheel of {@link DEADLINE_SLOT_MS} slots): calls in
 * flight each used to arm and clear a timer of their own, and at tens of thousands of calls
 * a second the timers and their closures were a good part of what a call allocated.
 * An item expires at most one slot after its deadline, and only once; deleting it first
 * means it never expires. The timer is armed only while something waits. A slot's items are
 * a list threaded through the items themselves: adding and deleting one allocates nothing
 * (a `Set` per slot grew and rehashed through hundreds of calls every 10 ms).
 */
export class Deadlines<T extends Expiring> {
  /** The first item of each slot's list. */
  #slots = new Map<number, Expiring>()
  /** Slot numbers in ascending order; may hold slots that emptied since (skipped when due). */
  #order: number[] = []
  #size = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #armedFor = Infinity
  #expire: (item: T) => void
  #unref: boolean

  /**
   * `expire` runs once for each item whose deadline passed (it must not throw); with `unref`
   * the timer does not keep the process alive.
   */
  constructor(options: { expire: (item: T) => void; unref?: boolean }) {
    this.#expire = options.expire
    this.#unref = options.unref ?? false
  }

  /** Items waiting. */
  get size(): number {
    return this.#size
  }

  /** Makes `item` expire at `deadline` (ms since the epoch, as `Date.now()`), or moves it there. */
  add(item: T, deadline: number): void {
    if (item.slot !== undefined) this.delete(item)
    const slot = Math.ceil(deadline / DEADLINE_SLOT_MS)
    const first = this.#slots.get(slot)
    if (first) first.prevDue = item
    else this.#insert(slot)
    item.nextDue = first
    item.prevDue = undefined
    this.#slots.set(slot, item)
    item.slot = slot
    this.#size++
    if (slot < this.#armedFor) this.#arm(slot)
  }

  /** Stops waiting for `item` (it settled); a no-op when it waits for nothing. */
  delete(item: T): void {
    const slot = item.slot
    if (slot === undefined) return
    const { prevDue: prev, nextDue: next } = item
    item.slot = item.prevDue = item.nextDue = undefined
    if (next) next.prevDue = prev
    if (prev) prev.nextDue = next
    else if (next) this.#slots.set(slot, next)
    else this.#slots.delete(slot)
    this.#size--
    if (this.#size === 0) this.clear()
  }

  /** Forgets every item without expiring it, and disarms the timer. */
  clear(): void {
    for (const first of this.#slots.values()) detach(first)
    this.#slots.clear()
    this.#order = []
    this.#size = 0
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#armedFor = Infinity
  }

  /** Keeps `#order` sorted, each slot once; deadlines mostly grow, so this is nearly always an append. */
  #insert(slot: number): void {
    const order = this.#order
    let i = order.length
    while (i > 0 && (order[i - 1] as number) > slot) i--
    // A slot that emptied and fills again is listed already.
    if (i > 0 && order[i - 1] === slot) return
    if (i === order.length) order.push(slot)
    else order.splice(i, 0, slot)
  }

  #arm(slot: number): void {
    clearTimeout(this.#timer)
    this.#armedFor = slot
    this.#timer = setTimeout(this.#fire, Math.max(0, slot * DEADLINE_SLOT_MS - Date.now()))
    if (this.#unref) unrefTimer(this.#timer)
  }

  #fire = (): void => {
    this.#timer = undefined
    this.#armedFor = Infinity
    const due = Math.floor(Date.now() / DEADLINE_SLOT_MS)
    const order = this.#order
    let n = 0
    while (n < order.length && (order[n] as number) <= due) n++
    const slots = order.splice(0, n)
    for (const slot of slots) {
      const first = this.#slots.get(slot)
      if (!first) continue
      this.#slots.delete(slot)
      const items = detach(first) as T[]
      this.#size -= items.length
      for (const item of items) this.#expire(item)
    }
    // `expire` may have added or cleared items (and armed the timer for a later slot).
    const next = this.#order.find((slot) => this.#slots.has(slot))
    if (next === undefined) this.#order = []
    else if (next < this.#armedFor) this.#arm(next)
  }
}
