import * as Y from 'yjs'
import { appended, eachElement, entryAt, isRightOf, unseenBy } from './array-order.js'
import { capMerges } from './cap-merges.js'
import { asKvEntry, KV_ARRAY, type KvEntry, type Slot } from './kv-entry.js'
import { KeyChangeSet, type KeyChanges } from './key-changes.js'
import { KeyTable } from './key-table.js'
import { KvPlacement } from './kv-placement.js'
import { RecentRemovals } from './recent-removals.js'
import { SlotTable } from './slot-table.js'
import { RemovedOwn } from './removed-own.js'
import { Superseded, type LostRace } from './superseded.js'

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
  onChange(changed: KeyChanges, transaction: Y.Transaction): void
  /** After a remote transaction that brought writes concurrent with this node's own, once the losers are deleted. */
  onConcurrent?(writes: ConcurrentWrite[], transaction: Y.Transaction): void
  /**
   * False for a transaction whose duplicates are no race: a light peer that appended an entry
   * without removing the one it replaced. Its losers are not remembered as lost races.
   */
  races?(transaction: Y.Transaction): boolean
  /** True to place this node's writes in its lane, right after its previous one, not at the end (kv-placement.ts). */
  lane?(): boolean
}

/** Most recent removals remembered, to name removed keys when histories diverge. */
const MAX_REMOVALS = 10_000

/** Id of a slot as `client:clock`. */
export const slotRef = (slot: { client: number; clock: number }): string => `${slot.client}:${slot.clock}`

/**
 * The key/value layout on a `Y.Array` of `{ key, val }` entries, with an index from key to its
 * live entry so no read or write scans the array. A write appends the new entry and deletes
 * the key's previous one by its id, in one transaction. Concurrent writes of one key leave two
 * live entries; every replica keeps the same one (see #beats) and deletes the others. Deleted
 * entries merge into runs that Yjs garbage-collects: memory follows the live keys, whatever
 * the number of overwrites (a `Y.Map` keeps a struct for every overwrite, forever).
 */
export class KvIndex {
  readonly array: Y.Array<unknown>
  #doc: Y.Doc
  #table = new SlotTable()
  /** Key → slot of its live entry in `#table`. */
  #slots = new KeyTable({ keyOf: (slot) => this.#table.entry(slot).key })
  /** Slots of entries with an owner or an expiry: what a sweep looks at. */
  #special = new Map<string, number>()
  /** Recently removed entries, to name removed keys when histories diverge. */
  #removed = new RecentRemovals(MAX_REMOVALS)
  /** Per key, entries that lost to a concurrent one when histories merged (recent ones only). */
  #superseded = new Superseded()
  /** This node's entries a remote transaction removed, for the writes that arrive after (see RemovedOwn). */
  #lostEarlier = new RemovedOwn()
  #placement: KvPlacement
  #hooks: KvIndexHooks

  constructor(doc: Y.Doc, hooks: KvIndexHooks) {
    capMerges()
    this.#doc = doc
    this.array = doc.getArray(KV_ARRAY)
    this.#placement = new KvPlacement(this.array, doc)
    this.#hooks = hooks
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
  *entries(): IterableIterator<KvEntry> {
    for (const slot of this.#table.live()) yield this.#table.entry(slot)
  }

  /** Live entries with an owner or an expiry. */
  *special(): IterableIterator<KvEntry> {
    for (const slot of this.#special.values()) yield this.#table.entry(slot)
  }

  /** Live slots whose entry the holder of state vector `sv` does not have yet. */
  *unknownTo(sv: Map<number, number>): IterableIterator<KvEntry> {
    const table = this.#table
    for (const slot of table.live()) {
      if (table.clock(slot) >= (sv.get(table.client(slot)) ?? 0)) yield table.entry(slot)
    }
  }

  /** Keys of recent removals of entries that the holder of `snapshot` has but has not seen removed. */
  removedUnknownTo(snapshot: Y.Snapshot): string[] {
    const keys: string[] = []
    this.#removed.forEach((client, clock, key) => {
      if (clock < (snapshot.sv.get(client) ?? 0) && !Y.isDeleted(snapshot.ds, Y.createID(client, clock))) keys.push(key)
    })
    return keys
  }

  /**
   * Writes entries (undefined: remove the key) inside the current transaction: deletes each
   * key's live entry by its id and appends the new ones in one push. The index follows at once,
   * so a read right after sees the write even inside another transaction's observer.
   */
  write(transaction: Y.Transaction, writes: ReadonlyArray<[string, KvEntry | undefined]>): void {
    const changed = this.#changesOf(transaction)
    const pushed: KvEntry[] = []
    /** Entries the pushed ones replace: each must stand left of them (see KvPlacement). */
    const replaced: Array<{ client: number; clock: number }> = []
    for (const [key, entry] of writes) {
      const old = this.#slots.get(key)
      if (old !== undefined) {
        const client = this.#table.client(old)
        const clock = this.#table.clock(old)
        changed.noteChanged(key, this.#table.entry(old).val)
        this.#deleteElement(transaction, client, clock)
        this.#unset(key, old, entry !== undefined)
        if (entry) replaced.push({ client, clock })
      } else if (entry) changed.noteChanged(key, undefined)
      if (entry) pushed.push(entry)
    }
    if (pushed.length > 0) {
      const place = this.#placement
      const left = this.#hooks.lane?.() ? place.lane(transaction, replaced) : place.end()
      const { client, clock } = place.insertAfter(transaction, left, pushed)
      pushed.forEach((entry, i) => this.#set(entry, client, clock + i, this.#slots.get(entry.key)))
    }
  }

  #deleteElement(transaction: Y.Transaction, client: number, clock: number): void {
    const id = Y.createID(client, clock)
    const start = Y.getItemCleanStart(transaction, id)
    if (start.deleted) return
    const item = start.length > 1 ? Y.getItemCleanEnd(transaction, this.#doc.store, id) : start
    item.delete(transaction)
    this.#placement.forgetMarkers()
  }

  /** Makes `entry`, element `clock` of `client`, the live entry of its key, in the key's `slot` if it has one. */
  #set(entry: KvEntry, client: number, clock: number, slot: number | undefined): void {
    const key = entry.key
    if (slot === undefined) {
      slot = this.#table.add(entry, client, clock)
      this.#slots.add(key, slot)
    } else this.#table.put(slot, entry, client, clock)
    if (entry.owner !== undefined || entry.exp !== undefined) this.#special.set(key, slot)
    else if (this.#special.size > 0) this.#special.delete(key)
  }

  /** Removes `key`, whose live entry is in `slot`; `keepSlot` when another entry of the key takes it at once. */
  #unset(key: string, slot: number, keepSlot = false): void {
    this.#removed.add(this.#table.client(slot), this.#table.clock(slot), key)
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

  #observe = (_event: Y.YArrayEvent<unknown>, transaction: Y.Transaction): void => {
    const changed = this.#changesOf(transaction)
    const table = this.#table
    const before = transaction.beforeState
    const own = this.#doc.clientID
    const remote = !transaction.local
    /** This node's entries that the remote transaction removed, by key. */
    const ownRemoved = new Map<string, Slot>()
    // Deleted entries: elements that existed before this transaction (Yjs's `event.changes`
    // would walk the whole array on every transaction instead).
    for (const [client, ranges] of transaction.deleteSet.clients) {
      const existed = before.get(client) ?? 0
      for (const { clock, len } of ranges) {
        eachElement(this.array, client, clock, Math.min(clock + len, existed), (item, i) => {
          const entry = asKvEntry(entryAt(item, i))
          const slot = entry && this.#slots.get(entry.key)
          if (!entry || slot === undefined || !table.is(slot, item.id.client, item.id.clock + i)) return
          if (remote && item.id.client === own)
            ownRemoved.set(entry.key, { client: own, clock: item.id.clock + i, entry })
          // Only a live entry from before the transaction: its key cannot have been noted yet.
          changed.noteChanged(entry.key, entry.val)
          this.#unset(entry.key, slot)
        })
      }
    }
    const losers: Array<{ client: number; clock: number }> = []
    const concurrent: ConcurrentWrite[] = []
    const race = this.#hooks.races?.(transaction) ?? true
    // Added entries: elements integrated by this transaction and still there. A cold join adds a
    // million, so nothing is allocated per entry but its slot, reserved at once (no more than
    // the array holds: a peer may send a garbage-collected run billions of clocks long).
    let added = 0
    for (const [client, after] of transaction.afterState) added += after - (before.get(client) ?? 0)
    added = Math.min(added, this.array.length)
    if (remote) this.#placement.noteForeign(added)
    table.reserve(added)
    this.#slots.reserve(added)
    changed.reserve(added)
    for (const [client, after] of transaction.afterState) {
      eachElement(this.array, client, before.get(client) ?? 0, after, (item, i) => {
        if (item.deleted) {
          // A write the relaying node already resolved against ours: no duplicate is left here.
          const entry = remote && client !== own ? asKvEntry(entryAt(item, i)) : undefined
          const mine =
            entry && (ownRemoved.get(entry.key) ?? this.#ownSlot(entry.key) ?? this.#lostEarlier.get(entry.key))
          if (entry && mine && appended(this.#doc, mine) && unseenBy(item, i, mine)) {
            concurrent.push({ key: entry.key, own: mine, other: { client, clock: item.id.clock + i, entry } })
          }
          return
        }
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
        if (remote && client !== own) {
          // Two live entries are concurrent for sure (a write placed before others, with
          // rightOrigin set, is a policy's write-back or a lane write, kv-placement.ts: judged
          // seen); ours removed by the relaying node, when this write had not seen it.
          const live = current !== undefined && table.client(current) === own ? this.#slotOf(current) : undefined
          const mine = live ?? ownRemoved.get(key) ?? this.#lostEarlier.get(key)
          const unseen = live ? item.rightOrigin === null : mine !== undefined && unseenBy(item, i, mine)
          if (mine && unseen && appended(this.#doc, mine))
            concurrent.push({ key, own: mine, other: { client, clock, entry } })
        }
        if (current === undefined) {
          if (!changed.noted(key)) changed.noteAdded(key)
          this.#set(entry, item.id.client, clock, undefined)
          return
        }
        const currentClient = table.client(current)
        const currentClock = table.clock(current)
        if (currentClient === item.id.client && currentClock === clock) return
        if (!this.#beats(entry, item, i, current)) {
          losers.push({ client: item.id.client, clock })
          this.#superseded.add(
            { client: item.id.client, clock, entry, by: { client: currentClient, clock: currentClock } },
            race,
          )
          return
        }
        losers.push({ client: currentClient, clock: currentClock })
        const old = table.entry(current)
        this.#superseded.add({ client: currentClient, clock: currentClock, entry: old, by: { client, clock } }, race)
        // An entry from before the transaction means the key was not noted yet; a newer one was.
        if (currentClock < (before.get(currentClient) ?? 0)) changed.noteChanged(key, old.val)
        this.#unset(key, current, true)
        this.#set(entry, item.id.client, clock, current)
      })
    }
    this.#lostEarlier.note(ownRemoved, changed.keys, (key) => this.#slots.get(key) !== undefined)
    if (losers.length > 0) {
      // Every replica resolves the duplicates of a merge the same way: the rightmost stays.
      this.#doc.transact((tr) => {
        for (const loser of losers) this.#deleteElement(tr, loser.client, loser.clock)
      }, this)
    }
    if (changed.keys.length > 0) this.#hooks.onChange(changed, transaction)
    // A writer that removed entries this node lacks (Yjs holds those removals back) may have
    // seen ours removed by them, through a third writer: nothing here proves a race then.
    if (concurrent.length > 0 && this.#doc.store.pendingDs === null) this.#hooks.onConcurrent?.(concurrent, transaction)
  }

  /**
   * True when `entry` (element `offset` of `item`) beats the concurrent live entry in `slot`: one
   * that yields loses to one that does not, else the rightmost wins; the same on every replica.
   */
  #beats(entry: KvEntry, item: Y.Item, offset: number, slot: number): boolean {
    const other = this.#table.entry(slot)
    if ((entry.yields === true) !== (other.yields === true)) return other.yields === true
    return isRightOf(item, offset, { client: this.#table.client(slot), clock: this.#table.clock(slot) })
  }

  #slotOf(slot: number): Slot {
    return { client: this.#table.client(slot), clock: this.#table.clock(slot), entry: this.#table.entry(slot) }
  }

  /** The live entry of `key` when this node wrote it. */
  #ownSlot(key: string): Slot | undefined {
    const slot = this.#slots.get(key)
    return slot !== undefined && this.#table.client(slot) === this.#doc.clientID ? this.#slotOf(slot) : undefined
  }

  /**
   * Of the entries of `key` that lost a merge and pass `eligible`, the rightmost, if any: the
   * entry whose value the key would hold without the entries that do not pass.
   */
  rightmostSuperseded(key: string, eligible: (slot: { client: number; clock: number }) => boolean): Slot | undefined {
    return this.#superseded.rightmost(this.#doc, key, eligible)
  }

  /** Remembers that `slot` lost a race to `winner`, as a peer's state said (lost-races.ts), to tell other peers. */
  rememberLostRace(slot: Slot, winner: { client: number; clock: number }): void {
    this.#superseded.add({ ...slot, by: winner })
  }

  /** Races this index resolved that `remote` has not seen (see Superseded.unseenBy). */
  lostRacesUnseenBy(remote: Y.Snapshot): LostRace[] {
    return this.#superseded.unseenBy(remote)
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
    const { client, clock } = this.#placement.insertAfter(transaction, left, [entry])
    this.#placement.leaveLane()
    this.#set(entry, client, clock, old)
  }
}
