import * as Y from 'yjs'
import type { JsonValue } from '../common/index.js'
import { appended, isRightOf, unseenBy } from './array-order.js'
import { capMerges } from './cap-merges.js'
import { asKvEntry, KV_ARRAY, type KvEntry } from './kv-entry.js'

/** What one transaction changed for one key. */
export interface KeyChange {
  key: string
  /** The value before, or undefined when the key was absent. */
  previous: JsonValue | undefined
  /** The value after, or undefined when the key was removed. */
  value: JsonValue | undefined
}

/** Where the live entry of a key sits: the id of its element in the array, and the entry. */
export interface Slot {
  client: number
  clock: number
  entry: KvEntry
}

/**
 * A write of a key by another node that had not seen this node's own write of it (`own`),
 * as a remote transaction brought it: both live at once, or already resolved by the node
 * that relayed it. Whichever of the two (if any) is the key's live entry now won.
 */
export interface ConcurrentWrite {
  key: string
  own: Slot
  other: Slot
}

/** What a KvIndex reports to the room around it. */
export interface KvIndexHooks {
  /** After every transaction that changed keys. */
  onChange(changes: KeyChange[], transaction: Y.Transaction): void
  /** After a remote transaction that brought writes concurrent with this node's own, once the losers are deleted. */
  onConcurrent?(writes: ConcurrentWrite[], transaction: Y.Transaction): void
}

/** Most recent removals remembered, to name removed keys when histories diverge. */
const MAX_REMOVALS = 10_000

/** Element `offset` of an item, when it holds JSON (ContentAny). */
const entryAt = (item: Y.Item, offset: number): unknown =>
  item.content instanceof Y.ContentAny ? item.content.arr[offset] : undefined

function* entriesOf(slots: Map<string, Slot>): IterableIterator<KvEntry> {
  for (const slot of slots.values()) yield slot.entry
}

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
  /** Id of the last element the latest local write appended: where the search for the end starts. */
  #tail: Y.ID | null = null
  #hooks: KvIndexHooks

  constructor(doc: Y.Doc, hooks: KvIndexHooks) {
    capMerges()
    this.#doc = doc
    this.array = doc.getArray(KV_ARRAY)
    this.#hooks = hooks
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
    return entriesOf(this.#slots)
  }

  /** Live entries with an owner or an expiry. */
  special(): IterableIterator<KvEntry> {
    return entriesOf(this.#special)
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
      const { client, clock } = this.#insertAfter(transaction, this.#last(), pushed)
      pushed.forEach((entry, i) => this.#set({ client, clock: clock + i, entry }))
    }
    if (changes.length > 0) this.#stash(transaction, changes)
  }

  #deleteElement(transaction: Y.Transaction, slot: { client: number; clock: number }): void {
    const id = Y.createID(slot.client, slot.clock)
    const start = Y.getItemCleanStart(transaction, id)
    if (start.deleted) return
    const item = start.length > 1 ? Y.getItemCleanEnd(transaction, this.#doc.store, id) : start
    item.delete(transaction)
    this.#forgetMarkers()
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

  /**
   * Calls `f` for every element of this array among the structs of `client` with clocks in
   * [from, to), without splitting any struct.
   */
  #eachElement(client: number, from: number, to: number, f: (item: Y.Item, offset: number) => void): void {
    const structs = this.#doc.store.clients.get(client)
    const last = structs?.[structs.length - 1]
    if (!structs || !last || from >= to || from >= last.id.clock + last.length) return
    // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- i < structs.length
    for (let i = Y.findIndexSS(structs, from); i < structs.length && structs[i]!.id.clock < to; i++) {
      // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- i < structs.length
      const item = structs[i]!
      // Items with a parentSub sit in the array's hidden map, not in its list: no reader sees them.
      if (!(item instanceof Y.Item) || item.parent !== this.array || item.parentSub !== null) continue
      const end = Math.min(to - item.id.clock, item.length)
      for (let offset = Math.max(from - item.id.clock, 0); offset < end; offset++) f(item, offset)
    }
  }

  #observe = (_event: Y.YArrayEvent<unknown>, transaction: Y.Transaction): void => {
    const changes = new Map<string, KeyChange>()
    for (const change of (transaction.meta.get(this) as KeyChange[] | undefined) ?? []) {
      const earlier = changes.get(change.key)
      changes.set(change.key, { ...change, previous: earlier ? earlier.previous : change.previous })
    }
    const note = (key: string, previous: JsonValue | undefined, value: JsonValue | undefined): void => {
      const earlier = changes.get(key)
      changes.set(key, { key, previous: earlier ? earlier.previous : previous, value })
    }
    const before = transaction.beforeState
    const own = this.#doc.clientID
    /** This node's entries that the remote transaction removed, by key. */
    const ownRemoved = new Map<string, Slot>()
    // Deleted entries: elements that existed before this transaction (Yjs's `event.changes`
    // would walk the whole array on every transaction instead).
    for (const [client, ranges] of transaction.deleteSet.clients) {
      const existed = before.get(client) ?? 0
      for (const { clock, len } of ranges) {
        this.#eachElement(client, clock, Math.min(clock + len, existed), (item, i) => {
          const entry = asKvEntry(entryAt(item, i))
          const slot = entry && this.#slots.get(entry.key)
          if (!entry || !slot || slot.client !== item.id.client || slot.clock !== item.id.clock + i) return
          if (!transaction.local && slot.client === own) ownRemoved.set(entry.key, slot)
          this.#unset(entry.key, slot)
          note(entry.key, entry.val, undefined)
        })
      }
    }
    const losers: Array<{ client: number; clock: number }> = []
    const concurrent: ConcurrentWrite[] = []
    // Added entries: elements integrated by this transaction and still there.
    for (const [client, after] of transaction.afterState) {
      this.#eachElement(client, before.get(client) ?? 0, after, (item, i) => {
        if (item.deleted) {
          // A write the relaying node already resolved against ours: no duplicate is left here.
          const entry = !transaction.local && client !== own ? asKvEntry(entryAt(item, i)) : undefined
          const mine = entry && (ownRemoved.get(entry.key) ?? this.#ownSlot(entry.key))
          if (entry && mine && appended(this.#doc, mine) && unseenBy(item, i, mine)) {
            concurrent.push({ key: entry.key, own: mine, other: { client, clock: item.id.clock + i, entry } })
          }
          return
        }
        const entry = asKvEntry(entryAt(item, i))
        if (!entry) {
          // Peers refuse updates that carry malformed entries or other content (see
          // refuseContent); what an app pushed into this node's array by hand goes, before it
          // can cut this node off.
          if (transaction.local && !(item.content instanceof Y.ContentDeleted)) {
            losers.push({ client: item.id.client, clock: item.id.clock + i })
          }
          return
        }
        const slot: Slot = { client: item.id.client, clock: item.id.clock + i, entry }
        const current = this.#slots.get(entry.key)
        if (current && current.client === slot.client && current.clock === slot.clock) return
        if (!transaction.local && client !== own) {
          // Two live entries are concurrent for sure; ours removed by the relaying node, when
          // this write had not seen it.
          const mine = current?.client === own ? current : ownRemoved.get(entry.key)
          // A write-back placed before others (rightOrigin set) is a policy's resolution, not a write.
          if (
            mine &&
            appended(this.#doc, mine) &&
            (mine === current ? item.rightOrigin === null : unseenBy(item, i, mine))
          ) {
            concurrent.push({ key: entry.key, own: mine, other: slot })
          }
        }
        if (current && !isRightOf(item, i, current)) {
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
    if (changes.size > 0) this.#hooks.onChange([...changes.values()], transaction)
    if (concurrent.length > 0) this.#hooks.onConcurrent?.(concurrent, transaction)
  }

  /** The live entry of `key` when this node wrote it. */
  #ownSlot(key: string): Slot | undefined {
    const slot = this.#slots.get(key)
    return slot?.client === this.#doc.clientID ? slot : undefined
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
        if (item instanceof Y.Item && isRightOf(item, slot.clock - item.id.clock, best)) best = slot
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
    const left = Y.getItemCleanEnd(transaction, this.#doc.store, Y.createID(after.client, after.clock))
    const { client, clock } = this.#insertAfter(transaction, left, [entry])
    this.#set({ client, clock, entry })
    this.#stash(transaction, [{ key: entry.key, previous: old?.entry.val, value: entry.val }])
  }

  /**
   * The last element of the array, found from the end of the previous local write, since
   * Y.Array's own ways to the end cost O(items): `push` walks from its rightmost search marker,
   * which only indexed access moves, and indexed access walks back over every unmerged item of
   * one client.
   */
  #last(): Y.Item | null {
    const known = this.#tail && Y.getItem(this.#doc.store, this.#tail)
    let item = known instanceof Y.Item && known.parent === this.array ? known : this.array._start
    while (item?.right) item = item.right
    return item
  }

  /**
   * Index-based access to the array (an app's, or y-utility's: nothing in Mesh uses it) relies
   * on search markers, which Yjs moves only when changes go through index-based calls or come
   * from remote transactions; changes made here by item would leave them pointing wrong.
   */
  #forgetMarkers(): void {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- Yjs types it non-null; AbstractType starts it as null
    this.array._searchMarker?.splice(0)
  }

  /** Integrates `entries` as one new item right of `left` (null: at the start); returns its id. */
  #insertAfter(transaction: Y.Transaction, left: Y.Item | null, entries: KvEntry[]): Y.ID {
    const right = left ? left.right : this.array._start
    const id = Y.createID(this.#doc.clientID, Y.getState(this.#doc.store, this.#doc.clientID))
    const item = new Y.Item(
      id,
      left,
      left && left.lastId,
      right,
      right && right.id,
      this.array,
      null,
      // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- Yjs's content classes do not extend AbstractContent, which its types name
      new Y.ContentAny(entries),
    )
    item.integrate(transaction, 0)
    this.#forgetMarkers()
    if (right === null) this.#tail = item.lastId
    return id
  }
}
