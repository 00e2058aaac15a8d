import { encodeAwarenessUpdate, type Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { appended, SmallSet, without } from '../common/index.js'
import type { Commit, CommitLog } from './history.js'
import type { AwarenessEntry } from './awareness-entries.js'
import { KV_ARRAY, type ConcurrentWrite, type KeyChanges, type KvIndex } from '../store/index.js'
import { EntryDecoderV1, EntryDecoderV2 } from './entry-coding.js'
import { LightFanOut } from './light-fan-out.js'
import type { RoomCheckpoint } from './room-checkpoint.js'
import { createRoomContent, type RoomContent } from './room-content.js'
import { encodePeer } from './peer-messages.js'
import { RelayHorizon } from './relay-horizon.js'
import { applyUnrelayed } from './unrelayed-apply.js'
import { EMPTY_SNAPSHOT, EMPTY_SNAPSHOT_BYTES, EMPTY_STATE_VECTOR } from './empty-state.js'
import type { LightSink, PeerSink, PendingUpdate, RoomHandle } from './room-types.js'

export type { LightSink, PeerSink, RoomHandle } from './room-types.js'

/** Marks a transaction whose commit `applyState` already recorded. */
const RECORDED = Symbol('recorded')
/** Where the pending structs came from, on a transaction that began while the doc held some. */
const GAP = Symbol('gap')

/** Flush a room's pending outgoing updates synchronously once they pass this many bytes. */
const FLUSH_BYTES = 1 << 20
/** The flush a room schedules: one function for every room, not a closure each. */
const flushRoom = (room: Room): void => room.flush()

/** How a room learns who made a change, for history and change events. */
export interface RoomHooks {
  /** Names the author and the path of a transaction's changes. */
  describe(origin: unknown, transaction: Y.Transaction): { origin: string; via: string }
  /** Called after every transaction that changed keys of the store's array. */
  onKeys(room: Room, changed: KeyChanges, origin: unknown, transaction: Y.Transaction): void
  /** Called for every commit added to the history. */
  committed(commit: Commit): void
  /** Counts relays left out because the peer gets the update from where it came (relay-horizon.ts). */
  duplicatesDropped?(count: number): void
  /** After a remote transaction left concurrent writes of keys; not while a diverged resync applies (the link's policy decides). */
  onConcurrent?(room: Room, writes: ConcurrentWrite[], origin: unknown): void
  /** True while this node writes its entries in its lane (kv-placement.ts): under the `merge` policy. */
  lanes?(): boolean
}

/** What every room of a node shares: one object per node, not a copy per room. */
export interface RoomEnv {
  readonly clientId: number
  readonly log: CommitLog
  readonly hooks: RoomHooks
  /** Largest encoded size (V2) a room may reach through remote updates. Default: no limit. */
  readonly maxBytes?: number
  /** Called once a room loaded (its doc exists), before anything is applied to it. */
  readonly onLoad?: (room: Room) => void
}

const NO_LINKS: readonly PeerSink[] = Object.freeze([])

/**
 * One replicated document: a `Y.Doc`, its `Awareness`, and the fan-out of its changes to
 * peer links (batched per tick, V2 encoding) and light peers (one V1 message per frame).
 *
 * The document, its presence and their bookkeeping are created on first use (content,
 * presence, a write, or the application reading `doc`): anyone may open a room with a 160-byte
 * upgrade, so a room that holds nothing answers as the empty document it is (`snapshot`,
 * `stateVector`) and keeps little (e2e/socket-cost.test.ts): its links in an array replaced on
 * change (a node has few), its light peers in a `SmallSet`, settings shared by the node's rooms.
 */
export class Room implements RoomHandle {
  readonly name: string
  #content: RoomContent | undefined
  #env: RoomEnv
  #links: readonly PeerSink[] = NO_LINKS
  #lights = new SmallSet<LightSink>()
  #lightOut = new LightFanOut(this.#lights)
  /** Updates for the next flush, scheduled when the first of them came. */
  #pending: PendingUpdate[] | undefined
  #horizon = new RelayHorizon()
  #pendingBytes = 0
  #destroyed = false
  /** True while applyState applies the state of a peer whose history diverged from ours. */
  #applyingDivergence = false
  #approxBytes = 0

  constructor(name: string, env: RoomEnv) {
    this.name = name
    this.#env = env
  }

  /** Largest encoded size (V2) this room may reach through remote updates. */
  get maxBytes(): number {
    return this.#env.maxBytes ?? Number.POSITIVE_INFINITY
  }

  /** The room's document; reading it loads the room. */
  get doc(): Y.Doc {
    return this.#load().doc
  }

  /** The room's presence; reading it loads the room. */
  get awareness(): Awareness {
    return this.#load().awareness
  }

  /** The key/value store's array and its index; reading it loads the room. */
  get kv(): KvIndex {
    return this.#load().kv
  }

  /** What anti-entropy keeps of this room from round to round; reading it loads the room. */
  get checkpoint(): RoomCheckpoint {
    return this.#load().checkpoint
  }

  /** Which connection (light peer or peer link) speaks for each awareness client id. */
  get awarenessOwners(): Map<number, object> {
    return this.#load().presence.owners
  }

  /** True once the room created its document: until then it holds nothing and nobody's presence. */
  get loaded(): boolean {
    return this.#content !== undefined
  }

  /** Awareness states held now, without loading the room. */
  get awarenessCount(): number {
    return this.#content?.awareness.getStates().size ?? 0
  }

  /** The room's snapshot (state vector and delete set), without loading an empty room. */
  snapshot(): Y.Snapshot {
    return this.#content ? Y.snapshot(this.#content.doc) : EMPTY_SNAPSHOT
  }

  /** The room's state vector, encoded, without loading an empty room. */
  stateVector(): Uint8Array {
    return this.#content ? Y.encodeStateVector(this.#content.doc) : EMPTY_STATE_VECTOR
  }

  /** Creates the room's document now, if it has none yet (rooms load on first use). */
  load(): void {
    this.#load()
  }

  #load(): RoomContent {
    if (this.#content) return this.#content
    const hooks = this.#env.hooks
    const content = (this.#content = createRoomContent({
      clientId: this.#env.clientId,
      kv: {
        onChange: (changed, transaction) => {
          transaction.meta.set(KV_ARRAY, changed.keys)
          hooks.onKeys(this, changed, transaction.origin, transaction)
        },
        onConcurrent: (writes, transaction) => {
          if (!this.#applyingDivergence) hooks.onConcurrent?.(this, writes, transaction.origin)
        },
        races: (transaction) => !this.#lights.has(transaction.origin as LightSink),
        lane: () => hooks.lanes?.() ?? false,
      },
      onUpdate: (update, origin, _doc, transaction) => {
        if (!transaction.meta.has(RECORDED)) this.#record(update.length, origin, transaction)
        this.#fanOut(update, origin, transaction.meta.get(GAP) as unknown[] | undefined)
      },
      beforeTransaction: (transaction) => {
        if (this.pending) transaction.meta.set(GAP, this.#horizon.pendingSources())
      },
      afterTransaction: (transaction) => this.#horizon.settled(transaction.origin, this.pending),
      presence: { name: this.name, lights: this.#lights, links: () => this.#links, destroyed: () => this.#destroyed },
    }))
    if (this.#destroyed) {
      // Read after the room was unloaded or its node closed: a dead document, and no timer left running.
      content.awareness.destroy()
      content.doc.destroy()
    } else this.#env.onLoad?.(this)
    return content
  }

  #record(bytes: number, origin: unknown, transaction: Y.Transaction): void {
    const who = this.#env.hooks.describe(origin, transaction)
    const commit = this.#env.log.add({
      room: this.name,
      origin: who.origin,
      via: who.via,
      time: Date.now(),
      bytes,
      keys: (transaction.meta.get(KV_ARRAY) as string[] | undefined) ?? [],
    })
    this.#env.hooks.committed(commit)
  }

  #fanOut(update: Uint8Array, origin: unknown, sources: unknown[] | undefined): void {
    this.#lightOut.push(update, origin, origin === this.#content?.kv)
    if (this.#links.length === 0) return
    if (this.#pending === undefined) {
      this.#pending = []
      setImmediate(flushRoom, this)
    }
    const last = this.#pending.at(-1)
    // A light peer's append and this node's removal of the entry it replaced leave as one overwrite, not a race.
    if (last && origin === this.#content?.kv && this.#lights.has(last.origin as LightSink))
      last.update = Y.mergeUpdates([last.update, update])
    else this.#pending.push({ update, origin, sources })
    this.#pendingBytes += update.length
    if (this.#pendingBytes >= FLUSH_BYTES) this.flush()
  }

  /** See `RoomPresence.cap`; loads the room. */
  capAwareness(entries: AwarenessEntry[]): { kept: AwarenessEntry[]; dropped: number } {
    return this.#load().presence.cap(entries)
  }

  /** Removes the awareness states a peer link relayed, once it closed (see `RoomPresence.dropLink`). */
  dropLinkAwareness(link: PeerSink): void {
    this.#content?.presence.dropLink(link)
  }

  /**
   * Sends every pending update to the live links, one frame per link, each frame encoded once
   * for every link that gets the same updates. A link gets neither what came from it nor what
   * its node gets straight from the node it came from (relay-horizon.ts).
   */
  flush(): void {
    const pending = this.#pending
    if (pending === undefined) return
    this.#pending = undefined
    this.#pendingBytes = 0
    const frames = new Map<string, Uint8Array<ArrayBuffer>>()
    let dropped = 0
    for (const link of this.#links) {
      const updates: Uint8Array[] = []
      let left = ''
      for (let i = 0; i < pending.length; i++) {
        const p = pending[i] as PendingUpdate
        if (!this.#horizon.leaves(link, p.origin, p.sources)) updates.push(p.update)
        else {
          left += `${i},`
          if (p.origin !== link) dropped++
        }
      }
      if (updates.length === 0) continue
      let frame = frames.get(left)
      if (frame === undefined) {
        frame = encodePeer.updates(this.name, updates)
        frames.set(left, frame)
      }
      link.sendFrame(frame)
    }
    if (dropped > 0) this.#env.hooks.duplicatesDropped?.(dropped)
  }

  /** Tells every live link which peers this room is synced with; `want`: this node's state vector, to be repaired. */
  #announce(want?: Uint8Array): void {
    const frame = encodePeer.relays(this.name, this.#horizon.ids(), want)
    for (const link of this.#links) link.sendFrame(frame)
  }

  /** The room is synced with `link` both ways now: every other peer may skip relaying it what comes from there. */
  linkSynced(link: PeerSink): void {
    if (this.#links.includes(link) && this.#horizon.sync(link)) this.#announce()
  }

  /** `link`'s node says which peers it is synced with for this room. */
  heard(link: PeerSink, ids: readonly string[]): void {
    this.#horizon.heard(link, ids)
  }

  /** The peers `link`'s node last said it is synced with, for status. */
  announcedBy(link: PeerSink): string[] {
    return this.#horizon.announcedBy(link)
  }

  /**
   * Starts relaying this room's live updates to a peer link, and sends it the awareness states
   * held now: they were relayed before the link existed, and would otherwise reach its side
   * only when each client renews its state (every 15 s).
   */
  addLink(link: PeerSink): void {
    if (!this.#links.includes(link)) this.#links = appended(this.#links, link)
    link.sendFrame(encodePeer.relays(this.name, this.#horizon.ids()))
    const awareness = this.#content?.awareness
    const clients = awareness ? [...awareness.getStates().keys()] : []
    if (awareness && clients.length > 0) {
      link.sendFrame(encodePeer.roomAwareness(this.name, encodeAwarenessUpdate(awareness, clients)))
    }
  }

  /**
   * Stops relaying to a peer link, flushing first so nothing queued for it is lost to others.
   * When the room was synced with it, the other links hear so, with this room's state vector:
   * they may have skipped updates that were on their way over this link (relay-horizon.ts).
   */
  removeLink(link: PeerSink): void {
    this.#horizon.forget(link)
    if (!this.#links.includes(link)) return
    this.flush()
    this.#links = this.#links.length === 1 ? NO_LINKS : without(this.#links, link)
    if (this.#horizon.unsync(link)) this.#announce(this.stateVector())
  }

  /** Applies a whole-state transfer (V2) from a peer; a cold join spares Yjs re-encoding it (unrelayed-apply.ts). */
  applyState(update: Uint8Array, origin: object, diverged = false): void {
    this.#applyingDivergence = diverged
    try {
      this.#applyState(() => Y.applyUpdateV2(this.doc, update, origin, EntryDecoderV2), update.length, origin)
    } finally {
      this.#applyingDivergence = false
    }
  }

  /** Applies updates this node stored (V1, in order) in one transaction, sparing their re-encoding like applyState. */
  applyStored(updates: readonly Uint8Array[], origin: object): void {
    const bytes = updates.reduce((sum, u) => sum + u.length, 0)
    const apply = (): void =>
      Y.transact(this.doc, () => updates.forEach((u) => Y.applyUpdateV2(this.doc, u, origin, EntryDecoderV1)), origin)
    if (updates.length > 0) this.#applyState(apply, bytes, origin)
  }

  /** Runs `apply`, one transaction of `bytes` received or stored bytes. */
  #applyState(apply: () => void, bytes: number, origin: object): void {
    const relayed = this.#lights.size > 0 || this.#links.some((link) => link !== origin)
    const record = (transaction: Y.Transaction): void => this.#record(bytes, origin, transaction)
    if (relayed) apply()
    else {
      const { doc, onUpdate } = this.#load()
      applyUnrelayed({ doc, apply, listener: onUpdate, marker: RECORDED, record })
    }
  }

  /** Starts relaying to a light peer. */
  addLight(light: LightSink): void {
    this.#lights.add(light)
    this.#content?.presence.addLight(light)
    this.lastActive = Date.now()
  }

  /** True when the awareness client `clientId` belongs to a light peer of this node. */
  ownedByLight(clientId: number): boolean {
    return this.#content?.presence.ownedByLight(clientId) ?? false
  }

  /** Stops relaying to a light peer. */
  removeLight(light: LightSink): void {
    this.#lights.delete(light)
    this.lastActive = Date.now()
  }

  /** When a light peer last came or went (or the room was created), for unloading idle rooms. */
  lastActive = Date.now()

  /** True once the room was destroyed (its node closed). */
  get destroyed(): boolean {
    return this.#destroyed
  }

  /** Number of light peers connected to this room on this node. */
  get lightCount(): number {
    return this.#lights.size
  }

  /**
   * Whether an incoming update of `bytes` may be applied without the room passing `maxBytes`.
   * Tracks an upper bound (the sum of applied updates) and measures the real size only when
   * that bound says the limit is near, so the common case costs an addition.
   */
  admit(bytes: number): boolean {
    if (this.#approxBytes + bytes <= this.maxBytes) {
      this.#approxBytes += bytes
      return true
    }
    this.#approxBytes = Y.encodeStateAsUpdateV2(this.doc).length
    if (this.#approxBytes + bytes > this.maxBytes) return false
    this.#approxBytes += bytes
    return true
  }

  /** This room's state vector and delete set, encoded (`Y.encodeSnapshot`). */
  encodeSnapshot(): Uint8Array {
    return this.#content ? Y.encodeSnapshot(Y.snapshot(this.#content.doc)) : EMPTY_SNAPSHOT_BYTES
  }

  /** True while the doc holds updates it cannot integrate yet (what they need never came; anti-entropy fills the gap). */
  get pending(): boolean {
    const store = this.#content?.doc.store
    return store !== undefined && (store.pendingStructs !== null || store.pendingDs !== null)
  }

  /** Frees the document and stops the awareness timer (which would keep the process alive). */
  destroy(): void {
    if (this.#destroyed) return
    this.flush()
    this.#destroyed = true
    this.#links = NO_LINKS
    this.#lights.clear()
    this.#content?.awareness.destroy()
    this.#content?.doc.destroy()
  }
}
