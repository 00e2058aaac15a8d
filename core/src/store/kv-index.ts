import * as Y from 'yjs'
import { asKvEntry, KV_ARRAY, type KvEntry } from './kv-entry.js'
import { KeyChangeSet, type KeyChanges } from './key-changes.js'
import { SlotTable } from './slot-table.js'

/** An entry and the id of its element in the array (entries that lost a merge). */
interface Slot {
  client: number
  clock: number
  entry: KvEntry
}

/** Most recent removals remembered, to name removed keys when histories diverge. */
const MAX_REMOVALS = 10_000

/** Most entries that one Yjs item holds after merging consecutive writes of one client. */
const MAX_MERGED_ENTRIES = 128

const MERGES_CAPPED = Symbol.for('mesh.content-any-merges-capped')

/**
 * Yjs merges each write of a client into the item of its previous one by copying the item's
 * whole array (`concat`), and splits that array again to delete one entry: both cost the
 * length of the run, so a store that appends one entry per write pays O(keys) per write. Runs
 * capped at MAX_MERGED_ENTRIES keep both O(1) and still spread an item's overhead over many
 * entries. Merging is only Yjs's in-memory representation (updates and state are the same
 * either way), so the cap, process-wide for ContentAny, changes no document.
 */
const capMerges = (): void => {
  const proto = Y.ContentAny.prototype as Y.ContentAny & { [MERGES_CAPPED]?: true }
  if (proto[MERGES_CAPPED]) return
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with .call(this)
  const merge = proto.mergeWith
  proto.mergeWith = function (this: Y.ContentAny, right: Y.ContentAny): boolean {
    return this.arr.length + right.arr.length <= MAX_MERGED_ENTRIES && merge.call(this, right)
  }
  proto[MERGES_CAPPED] = true
}

/** Element `offset` of an item, when it holds JSON (ContentAny). */
const entryAt = (item: Y.Item, offset: number): unknown =>
  item.content instanceof Y.ContentAny ? item.content.arr[offset] : undefined

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
  /** Key → slot of its live entry in `#table`. */
  #slots = new Map<string, number>()
  #table = new SlotTable()
  /** Slots of entries with an owner or an expiry: what a sweep looks at. */
  #special = new Map<string, number>()
  /** Recently removed entries (`client:clock` → key), oldest first. */
  #removed = new Map<string, string>()
  /** Per key, entries that lost to a concurrent one when histories merged (recent ones only). */
  #superseded = new Map<string, Slot[]>()
  /** Id of the last element the latest local write appended: where the search for the end starts. */
  #tail: Y.ID | null = null
  #onChange: (changed: KeyChanges, transaction: Y.Transaction) => void

  constructor(doc: Y.Doc, onChange: (changed: KeyChanges, transaction: Y.Transaction) => void) {
    capMerges()
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
    const slot = this.#slots.get(key)
    return slot === undefined ? undefined : this.#table.entry(slot)
  }

  /** Owner of the live entry of `key`, if it has one: a look-up among the entries with an owner or an expiry only. */
  ownerOf(key: string): string | undefined {
    const slot = this.#special.size > 0 ? this.#special.get(key) : undefined
    return slot === undefined ? undefined : this.#table.entry(slot).owner
  }

  /** Id (`client:clock`) of the live entry of `key`. */
  ref(key: string): string | undefined {
    const slot = this.#slots.get(key)
    return slot === undefined ? undefined : `${this.#table.client(slot)}:${this.#table.clock(slot)}`
  }

  /** Every live entry. */
  entries(): IterableIterator<KvEntry> {
    return this.#entriesOf(this.#slots)
  }

  /** Live entries with an owner or an expiry. */
  special(): IterableIterator<KvEntry> {
    return this.#entriesOf(this.#special)
  }

  *#entriesOf(slots: Map<string, number>): IterableIterator<KvEntry> {
    for (const slot of slots.values()) yield this.#table.entry(slot)
  }

  /** Live slots whose entry the holder of state vector `sv` does not have yet. */
  *unknownTo(sv: Map<number, number>): IterableIterator<KvEntry> {
    const table = this.#table
    for (const slot of this.#slots.values()) {
      if (table.clock(slot) >= (sv.get(table.client(slot)) ?? 0)) yield table.entry(slot)
    }
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
    const changed = this.#changesOf(transaction)
    const pushed: KvEntry[] = []
    for (const [key, entry] of writes) {
      const old = this.#slots.get(key)
      if (old !== undefined) {
        changed.noteChanged(key, this.#table.entry(old).val)
        this.#deleteElement(transaction, this.#table.client(old), this.#table.clock(old))
        this.#unset(key, old, entry !== undefined)
      } else if (entry) changed.noteChanged(key, undefined)
      if (entry) pushed.push(entry)
    }
    if (pushed.length > 0) {
      const { client, clock } = this.#insertAfter(transaction, this.#last(), pushed)
      pushed.forEach((entry, i) => this.#set(entry, client, clock + i, this.#slots.get(entry.key)))
    }
  }

  #deleteElement(transaction: Y.Transaction, client: number, clock: number): void {
    const id = Y.createID(client, clock)
    const start = Y.getItemCleanStart(transaction, id)
    if (start.deleted) return
    const item = start.length > 1 ? Y.getItemCleanEnd(transaction, this.#doc.store, id) : start
    item.delete(transaction)
    this.#forgetMarkers()
  }

  /** Makes `entry`, element `clock` of `client`, the live entry of its key, in the key's `slot` if it has one. */
  #set(entry: KvEntry, client: number, clock: number, slot: number | undefined): void {
    const key = entry.key
    if (slot === undefined) {
      slot = this.#table.add(entry, client, clock)
      this.#slots.set(key, slot)
    } else this.#table.put(slot, entry, client, clock)
    if (entry.owner !== undefined || entry.exp !== undefined) this.#special.set(key, slot)
    else if (this.#special.size > 0) this.#special.delete(key)
  }

  /** Removes `key`, whose live entry is in `slot`; `keepSlot` when another entry of the key takes it at once. */
  #unset(key: string, slot: number, keepSlot = false): void {
    this.#removed.set(slotRef({ client: this.#table.client(slot), clock: this.#table.clock(slot) }), key)
    if (this.#removed.size > MAX_REMOVALS) {
      const oldest = this.#removed.keys().next().value
      if (oldest !== undefined) this.#removed.delete(oldest)
    }
    if (keepSlot) return
    this.#slots.delete(key)
    this.#special.delete(key)
    this.#table.release(slot)
  }

  /** The changed keys of `transaction`: local writes note theirs as they go, the observer the rest. */
  #changesOf(transaction: Y.Transaction): KeyChangeSet {
    let changed = transaction.meta.get(this) as KeyChangeSet | undefined
    if (!changed) {
      changed = new KeyChangeSet((key) => this.entry(key)?.val)
      transaction.meta.set(this, changed)
    }
    return changed
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
    const changed = this.#changesOf(transaction)
    const table = this.#table
    const before = transaction.beforeState
    // Deleted entries: elements that existed before this transaction (Yjs's `event.changes`
    // would walk the whole array on every transaction instead).
    for (const [client, ranges] of transaction.deleteSet.clients) {
      const existed = before.get(client) ?? 0
      for (const { clock, len } of ranges) {
        this.#eachElement(client, clock, Math.min(clock + len, existed), (item, i) => {
          const entry = asKvEntry(entryAt(item, i))
          const slot = entry && this.#slots.get(entry.key)
          if (!entry || slot === undefined || !table.is(slot, item.id.client, item.id.clock + i)) return
          // Only a live entry from before the transaction: its key cannot have been noted yet.
          changed.noteChanged(entry.key, entry.val)
          this.#unset(entry.key, slot)
        })
      }
    }
    const losers: Array<{ client: number; clock: number }> = []
    // Added entries: elements integrated by this transaction and still there. A cold join adds a
    // million, so nothing is allocated per entry but its slot, reserved at once (no more than
    // the array holds: a peer may send a garbage-collected run billions of clocks long).
    let added = 0
    for (const [client, after] of transaction.afterState) added += after - (before.get(client) ?? 0)
    table.reserve(Math.min(added, this.array.length))
    for (const [client, after] of transaction.afterState) {
      this.#eachElement(client, before.get(client) ?? 0, after, (item, i) => {
        if (item.deleted) return
        const entry = asKvEntry(entryAt(item, i))
        const clock = item.id.clock + i
        if (!entry) {
          // Peers refuse updates that carry malformed entries or other content (see
          // refuseContent); what an app pushed into this node's array by hand goes, before it
          // can cut this node off.
          if (transaction.local && !(item.content instanceof Y.ContentDeleted)) {
            losers.push({ client: item.id.client, clock })
          }
          return
        }
        const key = entry.key
        const current = this.#slots.get(key)
        if (current === undefined) {
          if (!changed.noted(key)) changed.noteAdded(key)
          this.#set(entry, item.id.client, clock, undefined)
          return
        }
        const currentClient = table.client(current)
        const currentClock = table.clock(current)
        if (currentClient === item.id.client && currentClock === clock) return
        if (!this.#isRightOf(item, i, currentClient, currentClock)) {
          losers.push({ client: item.id.client, clock })
          this.#supersede({ client: item.id.client, clock, entry })
          return
        }
        losers.push({ client: currentClient, clock: currentClock })
        const old = table.entry(current)
        this.#supersede({ client: currentClient, clock: currentClock, entry: old })
        // An entry from before the transaction means the key was not noted yet; a newer one was.
        if (currentClock < (before.get(currentClient) ?? 0)) changed.noteChanged(key, old.val)
        this.#unset(key, current, true)
        this.#set(entry, item.id.client, clock, current)
      })
    }
    if (losers.length > 0) {
      // Every replica resolves the duplicates of a merge the same way: the rightmost stays.
      this.#doc.transact((tr) => {
        for (const loser of losers) this.#deleteElement(tr, loser.client, loser.clock)
      }, this)
    }
    if (changed.keys.length > 0) this.#onChange(changed, transaction)
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
        if (item instanceof Y.Item && this.#isRightOf(item, slot.clock - item.id.clock, best.client, best.clock)) {
          best = slot
        }
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
    const changed = this.#changesOf(transaction)
    const old = this.#slots.get(entry.key)
    if (old !== undefined) {
      changed.noteChanged(entry.key, this.#table.entry(old).val)
      this.#deleteElement(transaction, this.#table.client(old), this.#table.clock(old))
      this.#unset(entry.key, old, true)
    } else changed.noteChanged(entry.key, undefined)
    const left = Y.getItemCleanEnd(transaction, this.#doc.store, Y.createID(after.client, after.clock))
    const { client, clock } = this.#insertAfter(transaction, left, [entry])
    this.#set(entry, client, clock, old)
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

  /**
   * True when element `offset` of `item` stands right of element `clock` of `client` in the array. Walks right from
   * the new element, which a merge places near the end, so the walk is short: it never scans
   * from the old entry, which may sit at the very start.
   */
  #isRightOf(item: Y.Item, offset: number, client: number, clock: number): boolean {
    if (client === item.id.client && clock > item.id.clock + offset && clock < item.id.clock + item.length) {
      return false
    }
    for (let s: Y.Item | null = item.right; s !== null; s = s.right) {
      if (s.id.client === client && clock >= s.id.clock && clock < s.id.clock + s.length) return false
    }
    return true
  }
}
