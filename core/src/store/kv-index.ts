import * as Y from 'yjs'
import { isWellFormed, type JsonValue } from '../common/index.js'

/** Name of the array that holds the key/value store in every room (the layout of y-utility's `YKeyValue`). */
export const KV_ARRAY = 'kv'

/** Longest key the store accepts, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 1024

/** One entry of the store's array: a key, its value, and for ephemeral and TTL keys their owner and expiry. */
export interface KvEntry {
  key: string
  val: JsonValue
  /** Node id that owns an ephemeral key. */
  owner?: string
  /** Expiry of a TTL key, in milliseconds since the epoch by the writer's clock. */
  exp?: number
}

/** What one transaction changed for one key. */
export interface KeyChange {
  key: string
  /** The value before, or undefined when the key was absent. */
  previous: JsonValue | undefined
  /** The value after, or undefined when the key was removed. */
  value: JsonValue | undefined
}

/** Where the live entry of a key sits: the id of its element in the array, and the entry. */
interface Slot {
  client: number
  clock: number
  entry: KvEntry
}

/** Most recent removals remembered, to name removed keys when histories diverge. */
const MAX_REMOVALS = 100_000

/** The entry, when `raw` is a well-formed one; anything else in the array is ignored by every replica alike. */
const asEntry = (raw: unknown): KvEntry | undefined => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined
  const e = raw as Record<string, unknown>
  const key = e.key
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH || !isWellFormed(key)) return undefined
  if (e.val === undefined) return undefined
  if (e.owner !== undefined && typeof e.owner !== 'string') return undefined
  if (e.exp !== undefined && (typeof e.exp !== 'number' || !Number.isFinite(e.exp))) return undefined
  return raw as KvEntry
}

const entriesOf = (item: Y.Item): unknown[] =>
  item.content instanceof Y.ContentAny ? (item.content.getContent() as unknown[]) : []

/** Id of a slot as `client:clock`. */
export const slotRef = (slot: { client: number; clock: number }): string => `${slot.client}:${slot.clock}`

/**
 * The key/value layout on a `Y.Array` of `{ key, val }` entries, with an index from key to its
 * live entry so no read or write scans the array. A write appends the new entry and deletes
 * the key's previous one by its id, in one transaction. Concurrent writes of one key leave two
 * live entries; every replica keeps the rightmost and deletes the others, so all agree. Deleted
 * entries merge into runs that Yjs garbage-collects: memory follows the live keys, whatever
 * the number of overwrites (a `Y.Map` keeps a struct for every overwrite, forever).
 */
export class KvIndex {
  readonly array: Y.Array<unknown>
  #doc: Y.Doc
  #slots = new Map<string, Slot>()
  /** Slots of entries with an owner or an expiry: what a sweep looks at. */
  #special = new Map<string, Slot>()
  /** Recently removed entries (`client:clock` → key), oldest first. */
  #removed = new Map<string, string>()
  /** Per key, entries that lost to a concurrent one when histories merged (recent ones only). */
  #superseded = new Map<string, Slot[]>()
  #onChange: (changes: KeyChange[], transaction: Y.Transaction) => void

  constructor(doc: Y.Doc, onChange: (changes: KeyChange[], transaction: Y.Transaction) => void) {
    this.#doc = doc
    this.array = doc.getArray(KV_ARRAY)
    this.#onChange = onChange
    this.array.observe(this.#observe)
  }

  /** Number of live keys (expired TTL keys included until swept). */
  get size(): number {
    return this.#slots.size
  }

  /** The live entry of `key`. */
  entry(key: string): KvEntry | undefined {
    return this.#slots.get(key)?.entry
  }

  /** Id (`client:clock`) of the live entry of `key`. */
  ref(key: string): string | undefined {
    const slot = this.#slots.get(key)
    return slot && slotRef(slot)
  }

  /** Every live entry. */
  entries(): IterableIterator<KvEntry> {
    return (function* (slots) {
      for (const slot of slots.values()) yield slot.entry
    })(this.#slots)
  }

  /** Live entries with an owner or an expiry. */
  special(): IterableIterator<KvEntry> {
    return (function* (slots) {
      for (const slot of slots.values()) yield slot.entry
    })(this.#special)
  }

  /** Live slots whose entry the holder of state vector `sv` does not have yet. */
  *unknownTo(sv: Map<number, number>): IterableIterator<KvEntry> {
    for (const slot of this.#slots.values()) if (slot.clock >= (sv.get(slot.client) ?? 0)) yield slot.entry
  }

  /** Keys of recent removals of entries that the holder of `snapshot` has but has not seen removed. */
  *removedUnknownTo(snapshot: Y.Snapshot): IterableIterator<string> {
    for (const [ref, key] of this.#removed) {
      const [client, clock] = ref.split(':').map(Number) as [number, number]
      if (clock < (snapshot.sv.get(client) ?? 0) && !Y.isDeleted(snapshot.ds, Y.createID(client, clock))) yield key
    }
  }

  /**
   * Writes entries (undefined: remove the key) inside the current transaction: deletes each
   * key's live entry by its id and appends the new ones in one push. The index follows at once,
   * so a read right after sees the write even inside another transaction's observer.
   */
  write(transaction: Y.Transaction, writes: ReadonlyArray<[string, KvEntry | undefined]>): void {
    const changes: KeyChange[] = []
    const pushed: KvEntry[] = []
    for (const [key, entry] of writes) {
      const old = this.#slots.get(key)
      if (old) this.#deleteElement(transaction, old)
      if (old || entry) changes.push({ key, previous: old?.entry.val, value: entry?.val })
      this.#unset(key, old)
      if (entry) pushed.push(entry)
    }
    if (pushed.length > 0) {
      const client = this.#doc.clientID
      const start = Y.getState(this.#doc.store, client)
      this.array.push(pushed)
      pushed.forEach((entry, i) => this.#set({ client, clock: start + i, entry }))
    }
    if (changes.length > 0) this.#stash(transaction, changes)
  }

  #deleteElement(transaction: Y.Transaction, slot: { client: number; clock: number }): void {
    const id = Y.createID(slot.client, slot.clock)
    const start = Y.getItemCleanStart(transaction, id)
    if (start.deleted) return
    const item = start.length > 1 ? Y.getItemCleanEnd(transaction, this.#doc.store, id) : start
    item.delete(transaction)
  }

  #set(slot: Slot): void {
    this.#slots.set(slot.entry.key, slot)
    if (slot.entry.owner !== undefined || slot.entry.exp !== undefined) this.#special.set(slot.entry.key, slot)
    else this.#special.delete(slot.entry.key)
  }

  #unset(key: string, slot: Slot | undefined): void {
    if (!slot) return
    this.#slots.delete(key)
    this.#special.delete(key)
    this.#removed.set(slotRef(slot), key)
    if (this.#removed.size > MAX_REMOVALS) {
      const oldest = this.#removed.keys().next().value
      if (oldest !== undefined) this.#removed.delete(oldest)
    }
  }

  /** Changes of local writes, kept for the observer, which reports each transaction once. */
  #stash(transaction: Y.Transaction, changes: KeyChange[]): void {
    const stashed = transaction.meta.get(this) as KeyChange[] | undefined
    if (stashed) stashed.push(...changes)
    else transaction.meta.set(this, changes)
  }

  #observe = (event: Y.YArrayEvent<unknown>, transaction: Y.Transaction): void => {
    const changes = new Map<string, KeyChange>()
    for (const change of (transaction.meta.get(this) as KeyChange[] | undefined) ?? []) {
      const earlier = changes.get(change.key)
      changes.set(change.key, { ...change, previous: earlier ? earlier.previous : change.previous })
    }
    const note = (key: string, previous: JsonValue | undefined, value: JsonValue | undefined): void => {
      const earlier = changes.get(key)
      changes.set(key, { key, previous: earlier ? earlier.previous : previous, value })
    }
    for (const item of event.changes.deleted) {
      entriesOf(item).forEach((raw, i) => {
        const entry = asEntry(raw)
        const slot = entry && this.#slots.get(entry.key)
        if (!entry || !slot || slot.client !== item.id.client || slot.clock !== item.id.clock + i) return
        this.#unset(entry.key, slot)
        note(entry.key, entry.val, undefined)
      })
    }
    const losers: Slot[] = []
    for (const item of event.changes.added) {
      entriesOf(item).forEach((raw, i) => {
        const entry = asEntry(raw)
        if (!entry) return
        const slot: Slot = { client: item.id.client, clock: item.id.clock + i, entry }
        const current = this.#slots.get(entry.key)
        if (current && current.client === slot.client && current.clock === slot.clock) return
        if (current && !this.#isRightOf(item, i, current)) {
          losers.push(slot)
          this.#supersede(slot)
          return
        }
        if (current) {
          losers.push(current)
          this.#supersede(current)
        }
        this.#unset(entry.key, current)
        this.#set(slot)
        note(entry.key, current?.entry.val, entry.val)
      })
    }
    if (losers.length > 0) {
      // Every replica resolves the duplicates of a merge the same way: the rightmost stays.
      this.#doc.transact((tr) => {
        for (const loser of losers) this.#deleteElement(tr, loser)
      }, this)
    }
    if (changes.size > 0) this.#onChange([...changes.values()], transaction)
  }

  #supersede(slot: Slot): void {
    const list = this.#superseded.get(slot.entry.key) ?? []
    list.push(slot)
    this.#superseded.delete(slot.entry.key)
    this.#superseded.set(slot.entry.key, list.slice(-4))
    if (this.#superseded.size > MAX_REMOVALS) {
      const oldest = this.#superseded.keys().next().value
      if (oldest !== undefined) this.#superseded.delete(oldest)
    }
  }

  /**
   * Of the entries of `key` that lost a merge and pass `eligible`, the rightmost, if any: the
   * entry whose value the key would hold without the entries that do not pass.
   */
  rightmostSuperseded(key: string, eligible: (slot: { client: number; clock: number }) => boolean): Slot | undefined {
    let best: Slot | undefined
    for (const slot of this.#superseded.get(key) ?? []) {
      if (!eligible(slot)) continue
      if (!best) best = slot
      else {
        const item = Y.getItem(this.#doc.store, Y.createID(slot.client, slot.clock))
        if (item instanceof Y.Item && this.#isRightOf(item, slot.clock - item.id.clock, best)) best = slot
      }
    }
    return best
  }

  /**
   * Replaces the live entry of `entry.key` with `entry`, placed right after the element `after`
   * instead of at the end: a merge with a third side then orders it exactly as it orders
   * `after` (see yieldOwnWrites).
   */
  writeAfter(transaction: Y.Transaction, after: { client: number; clock: number }, entry: KvEntry): void {
    const old = this.#slots.get(entry.key)
    if (old) this.#deleteElement(transaction, old)
    this.#unset(entry.key, old)
    const store = this.#doc.store
    const left = Y.getItemCleanEnd(transaction, store, Y.createID(after.client, after.clock))
    const right = left.right
    const client = this.#doc.clientID
    const clock = Y.getState(store, client)
    const item = new Y.Item(
      Y.createID(client, clock),
      left,
      left.lastId,
      right,
      right && right.id,
      this.array,
      null,
      new Y.ContentAny([entry]),
    )
    item.integrate(transaction, 0)
    this.#set({ client, clock, entry })
    this.#stash(transaction, [{ key: entry.key, previous: old?.entry.val, value: entry.val }])
  }

  /**
   * True when element `offset` of `item` stands right of `slot` in the array. Walks right from
   * the new element, which a merge places near the end, so the walk is short: it never scans
   * from the old entry, which may sit at the very start.
   */
  #isRightOf(item: Y.Item, offset: number, slot: { client: number; clock: number }): boolean {
    if (
      slot.client === item.id.client &&
      slot.clock > item.id.clock + offset &&
      slot.clock < item.id.clock + item.length
    ) {
      return false
    }
    for (let s: Y.Item | null = item.right; s !== null; s = s.right) {
      if (s.id.client === slot.client && slot.clock >= s.id.clock && slot.clock < s.id.clock + s.length) return false
    }
    return true
  }
}
