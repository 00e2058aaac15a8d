import { Awareness, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import * as Y from 'yjs'
import type { Commit, CommitLog } from './history.js'
import { capEntries, type AwarenessEntry } from './awareness-entries.js'
import { KV_ARRAY, KvIndex, type ConcurrentWrite, type KeyChanges } from '../store/index.js'
import { encodeLight } from './light-messages.js'
import { RoomCheckpoint } from './room-checkpoint.js'
import { encodePeer } from './peer-messages.js'
import { SyncType } from './protocol.js'
import { RelayHorizon } from './relay-horizon.js'
import { applyUnrelayed } from './unrelayed-apply.js'

/** Marks a transaction whose commit `applyState` already recorded. */
const RECORDED = Symbol('recorded')
/** Where the pending structs came from, on a transaction that began while the doc held some. */
const GAP = Symbol('gap')

/** Flush a room's pending outgoing updates synchronously once they pass this many bytes. */
const FLUSH_BYTES = 1 << 20

/** Somewhere a room sends peer-link frames (a live peer link). */
export interface PeerSink {
  /** The node at the other end, once its handshake named it. */
  readonly peerId: string | undefined
  sendFrame(frame: Uint8Array<ArrayBuffer>): void
}

/** Somewhere a room sends light-peer frames (a light-peer socket). */
export interface LightSink {
  sendFrame(frame: Uint8Array<ArrayBuffer>): void
}

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
  /**
   * Called after a remote transaction left concurrent writes of keys, except while a diverged
   * (re)sync applies the peer's state: the link's conflict policy decides those.
   */
  onConcurrent?(room: Room, writes: ConcurrentWrite[], origin: unknown): void
}

/**
 * A room as the application holds it: its name, its `Y.Doc` and its `Awareness`. Edit the
 * doc like any Yjs document; Mesh replicates it to every peer.
 *
 * @example
 * const board = node.room('board')
 * board.doc.getText('notes').insert(0, 'hello')
 */
export interface RoomHandle {
  readonly name: string
  readonly doc: Y.Doc
  readonly awareness: Awareness
}

/**
 * One replicated document: a `Y.Doc`, its `Awareness`, and the fan-out of its changes to
 * peer links (batched per tick, V2 encoding) and light peers (one V1 message per frame).
 */
export class Room implements RoomHandle {
  readonly name: string
  readonly doc: Y.Doc
  readonly awareness: Awareness
  /** The key/value store's array and its index. */
  readonly kv: KvIndex
  /** What anti-entropy keeps of this room from round to round. */
  readonly checkpoint: RoomCheckpoint
  /** Which connection (light peer or peer link) speaks for each awareness client id. */
  readonly awarenessOwners = new Map<number, object>()
  #links = new Set<PeerSink>()
  #lights = new Set<LightSink>()
  /** Every light sink this room ever served: awareness entries they own come only from them. */
  #lightOwners = new WeakSet<object>()
  /** Live updates not flushed yet; `sources`: where pending structs it may integrate came from. */
  #pending: Array<{ update: Uint8Array; origin: unknown; sources: unknown[] | undefined }> = []
  #horizon = new RelayHorizon()
  #pendingBytes = 0
  #flushScheduled = false
  #log: CommitLog
  #hooks: RoomHooks
  #destroyed = false
  /** True while applyState applies the state of a peer whose history diverged from ours. */
  #applyingDivergence = false

  /** Largest encoded size (V2) this room may reach through remote updates. */
  readonly maxBytes: number
  #approxBytes = 0

  constructor(options: { name: string; clientId: number; log: CommitLog; hooks: RoomHooks; maxBytes?: number }) {
    this.name = options.name
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY
    this.#log = options.log
    this.#hooks = options.hooks
    this.doc = new Y.Doc({ gc: true })
    this.doc.clientID = options.clientId
    this.kv = new KvIndex(this.doc, {
      onChange: (changed, transaction) => {
        transaction.meta.set(KV_ARRAY, changed.keys)
        this.#hooks.onKeys(this, changed, transaction.origin, transaction)
      },
      onConcurrent: (writes, transaction) => {
        if (!this.#applyingDivergence) this.#hooks.onConcurrent?.(this, writes, transaction.origin)
      },
    })
    this.awareness = new Awareness(this.doc)
    // A node is not an editor: it holds no awareness state of its own.
    this.awareness.setLocalState(null)
    // One V1 encoding per transaction serves both peer links and light peers. V1 is cheaper to
    // produce for the small updates of live traffic (V2 allocates a dozen column buffers);
    // whole-state transfers (diff, full) stay V2, where it is far more compact.
    this.doc.on('update', this.#onUpdate)
    this.doc.on('beforeTransaction', this.#onBegin)
    this.doc.on('afterTransaction', this.#onEnd)
    this.checkpoint = new RoomCheckpoint(this.doc)
    this.awareness.on('update', this.#onAwareness)
  }

  #onBegin = (transaction: Y.Transaction): void => {
    if (this.pending) transaction.meta.set(GAP, this.#horizon.pendingSources())
  }

  #onEnd = (transaction: Y.Transaction): void => this.#horizon.settled(transaction.origin, this.pending)

  #onUpdate = (update: Uint8Array, origin: unknown, _doc: Y.Doc, transaction: Y.Transaction): void => {
    if (!transaction.meta.has(RECORDED)) this.#record(update, origin, transaction)
    this.#fanOut(update, origin, transaction.meta.get(GAP) as unknown[] | undefined)
  }

  #record(update: Uint8Array, origin: unknown, transaction: Y.Transaction): void {
    const who = this.#hooks.describe(origin, transaction)
    const commit = this.#log.add({
      room: this.name,
      origin: who.origin,
      via: who.via,
      time: Date.now(),
      bytes: update.length,
      keys: (transaction.meta.get(KV_ARRAY) as string[] | undefined) ?? [],
    })
    this.#hooks.committed(commit)
  }

  #fanOut(update: Uint8Array, origin: unknown, sources: unknown[] | undefined): void {
    if (this.#lights.size > 0) {
      const frame = encodeLight.sync(SyncType.update, update)
      for (const light of this.#lights) if (light !== origin) light.sendFrame(frame)
    }
    if (this.#links.size === 0) return
    this.#pending.push({ update, origin, sources })
    this.#pendingBytes += update.length
    if (this.#pendingBytes >= FLUSH_BYTES) this.flush()
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(this.flush)
    }
  }

  /**
   * Keeps the entries an awareness update may apply: updates and removals always, states for
   * new client ids only while the room holds fewer than `MAX_AWARENESS_CLIENTS`. Returns
   * how many it left out.
   */
  capAwareness(entries: AwarenessEntry[]): { kept: AwarenessEntry[]; dropped: number } {
    return capEntries(this.awareness.getStates(), entries)
  }

  /** True while removing a closed link's states: the removal is this node's news alone. */
  #droppingLink = false

  /**
   * Removes the awareness states a peer link relayed, once it closed: they would otherwise
   * stay until they time out (30 s) and go to every newcomer meanwhile. Light peers hear of
   * the removal; other links do not (each node's own link to that peer, or a relay, speaks for
   * those clients there), and the clients come back with their next renewal if they are still
   * reachable another way.
   */
  dropLinkAwareness(link: PeerSink): void {
    const ids: number[] = []
    for (const [id, owner] of this.awarenessOwners) if (owner === link) ids.push(id)
    if (ids.length === 0 || this.#destroyed) return
    this.#droppingLink = true
    try {
      removeAwarenessStates(this.awareness, ids, link)
    } finally {
      this.#droppingLink = false
    }
    for (const id of ids) if (this.awarenessOwners.get(id) === link) this.awarenessOwners.delete(id)
  }

  #onAwareness = (changes: { added: number[]; updated: number[]; removed: number[] }, origin: unknown): void => {
    for (const id of changes.removed) {
      // A tab's ids stay its own until it removes them or closes, whoever else reports a removal
      // (an awareness timeout, a relay); ids relayed from another node go with their state.
      const owner = this.awarenessOwners.get(id)
      if (owner === origin || !this.#lights.has(owner as LightSink)) this.awarenessOwners.delete(id)
    }
    const clients = [...changes.added, ...changes.updated, ...changes.removed]
    if (clients.length === 0 || this.#destroyed) return
    const update = encodeAwarenessUpdate(this.awareness, clients)
    if (this.#lights.size > 0) {
      const frame = encodeLight.awareness(update)
      for (const light of this.#lights) if (light !== origin) light.sendFrame(frame)
    }
    if (this.#links.size > 0 && !this.#droppingLink) {
      const frame = encodePeer.roomAwareness(this.name, update)
      for (const link of this.#links) if (link !== origin) link.sendFrame(frame)
    }
  }

  /**
   * Sends every pending update to the live links, one frame per link, each frame encoded once
   * for every link that gets the same updates. A link gets neither what came from it nor what
   * its node gets straight from the node it came from (relay-horizon.ts).
   */
  flush = (): void => {
    this.#flushScheduled = false
    const pending = this.#pending
    if (pending.length === 0) return
    this.#pending = []
    this.#pendingBytes = 0
    const frames = new Map<string, Uint8Array<ArrayBuffer>>()
    let dropped = 0
    for (const link of this.#links) {
      const updates: Uint8Array[] = []
      let left = ''
      for (let i = 0; i < pending.length; i++) {
        const p = pending[i] as (typeof pending)[number]
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
    if (dropped > 0) this.#hooks.duplicatesDropped?.(dropped)
  }

  /** Tells every live link which peers this room is synced with; `want`: this node's state vector, to be repaired. */
  #announce(want?: Uint8Array): void {
    const frame = encodePeer.relays(this.name, this.#horizon.ids(), want)
    for (const link of this.#links) link.sendFrame(frame)
  }

  /** The room is synced with `link` both ways now: every other peer may skip relaying it what comes from there. */
  linkSynced(link: PeerSink): void {
    if (this.#links.has(link) && this.#horizon.sync(link)) this.#announce()
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
    this.#links.add(link)
    link.sendFrame(encodePeer.relays(this.name, this.#horizon.ids()))
    const clients = [...this.awareness.getStates().keys()]
    if (clients.length > 0) {
      link.sendFrame(encodePeer.roomAwareness(this.name, encodeAwarenessUpdate(this.awareness, clients)))
    }
  }

  /**
   * Stops relaying to a peer link, flushing first so nothing queued for it is lost to others.
   * When the room was synced with it, the other links hear so, with this room's state vector:
   * they may have skipped updates that were on their way over this link (relay-horizon.ts).
   */
  removeLink(link: PeerSink): void {
    this.#horizon.forget(link)
    if (!this.#links.has(link)) return
    this.flush()
    this.#links.delete(link)
    if (this.#horizon.unsync(link)) this.#announce(Y.encodeStateVector(this.doc))
  }

  /**
   * Applies a whole-state transfer (V2) from a peer. When nobody else would receive it
   * (the usual cold join: no other link, no light peer), Yjs is spared re-encoding the whole
   * state for the update event, which costs seconds at a million keys; the commit is
   * recorded with the received size instead (unrelayed-apply.ts).
   */
  applyState(update: Uint8Array, origin: object, diverged = false): void {
    this.#applyingDivergence = diverged
    try {
      this.#applyState(update, origin)
    } finally {
      this.#applyingDivergence = false
    }
  }

  #applyState(update: Uint8Array, origin: object): void {
    const relayed = this.#lights.size > 0 || [...this.#links].some((link) => link !== origin)
    if (relayed) Y.applyUpdateV2(this.doc, update, origin)
    else
      applyUnrelayed({
        doc: this.doc,
        update,
        origin,
        listener: this.#onUpdate,
        marker: RECORDED,
        record: (transaction) => this.#record(update, origin, transaction),
      })
  }

  /** Starts relaying to a light peer. */
  addLight(light: LightSink): void {
    this.#lights.add(light)
    this.#lightOwners.add(light)
    this.lastActive = Date.now()
  }

  /** True when the awareness client `clientId` belongs to a light peer of this node. */
  ownedByLight(clientId: number): boolean {
    const owner = this.awarenessOwners.get(clientId)
    return owner !== undefined && this.#lightOwners.has(owner)
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
    return Y.encodeSnapshot(Y.snapshot(this.doc))
  }

  /**
   * True while the doc holds updates it cannot integrate yet (pending structs or deletes):
   * something they depend on never arrived. Anti-entropy fills the gap.
   */
  get pending(): boolean {
    return this.doc.store.pendingStructs !== null || this.doc.store.pendingDs !== null
  }

  /** Frees the document and stops the awareness timer (which would keep the process alive). */
  destroy(): void {
    if (this.#destroyed) return
    this.flush()
    this.#destroyed = true
    this.#links.clear()
    this.#lights.clear()
    this.awareness.destroy()
    this.doc.destroy()
  }
}
