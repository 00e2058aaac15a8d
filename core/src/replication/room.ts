import { Awareness, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import * as Y from 'yjs'
import type { Commit, CommitLog } from './history.js'
import type { AwarenessEntry } from './awareness-entries.js'
import { KV_ARRAY, KvIndex, type ConcurrentWrite, type KeyChanges } from '../store/index.js'
import { encodeLight } from './light-messages.js'
import { RoomCheckpoint } from './room-checkpoint.js'
import { encodePeer } from './peer-messages.js'
import { SyncType } from './protocol.js'

/** Marks a transaction whose commit `applyState` already recorded. */
const RECORDED = Symbol('recorded')

/** Flush a room's pending outgoing updates synchronously once they pass this many bytes. */
const FLUSH_BYTES = 1 << 20

/** Somewhere a room sends peer-link frames (a live peer link). */
export interface PeerSink {
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
  /**
   * Called after a remote transaction left concurrent writes of keys, except while a diverged
   * (re)sync applies the peer's state: the link's conflict policy decides those.
   */
  onConcurrent?(room: Room, writes: ConcurrentWrite[], origin: unknown): void
}

/**
 * Most awareness client ids one room holds (each tab has one): a peer that relays more new ids
 * has them dropped, so an unauthenticated client cannot fill a node with presence.
 */
export const MAX_AWARENESS_CLIENTS = 10_000

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
  #pending: Array<{ update: Uint8Array; origin: unknown }> = []
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
    this.checkpoint = new RoomCheckpoint(this.doc)
    this.awareness.on('update', this.#onAwareness)
  }

  #onUpdate = (update: Uint8Array, origin: unknown, _doc: Y.Doc, transaction: Y.Transaction): void => {
    if (!transaction.meta.has(RECORDED)) this.#record(update.length, origin, transaction)
    this.#fanOut(update, origin)
  }

  #record(bytes: number, origin: unknown, transaction: Y.Transaction): void {
    const who = this.#hooks.describe(origin, transaction)
    const commit = this.#log.add({
      room: this.name,
      origin: who.origin,
      via: who.via,
      time: Date.now(),
      bytes,
      keys: (transaction.meta.get(KV_ARRAY) as string[] | undefined) ?? [],
    })
    this.#hooks.committed(commit)
  }

  #fanOut(update: Uint8Array, origin: unknown): void {
    if (this.#lights.size > 0) {
      const frame = encodeLight.sync(SyncType.update, update)
      for (const light of this.#lights) if (light !== origin) light.sendFrame(frame)
    }
    if (this.#links.size === 0) return
    this.#pending.push({ update, origin })
    this.#pendingBytes += update.length
    if (this.#pendingBytes >= FLUSH_BYTES) this.flush()
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(this.flush)
    }
  }

  /**
   * Keeps the entries an awareness update may apply: updates and removals always, states for
   * new client ids only while the room holds fewer than {@link MAX_AWARENESS_CLIENTS}. Returns
   * how many it left out.
   */
  capAwareness(entries: AwarenessEntry[]): { kept: AwarenessEntry[]; dropped: number } {
    const states = this.awareness.getStates()
    let room = MAX_AWARENESS_CLIENTS - states.size
    const kept: AwarenessEntry[] = []
    for (const entry of entries) {
      if (entry.state === 'null' || states.has(entry.clientId)) kept.push(entry)
      else if (room > 0) {
        room--
        kept.push(entry)
      }
    }
    return { kept, dropped: entries.length - kept.length }
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

  /** Sends every pending update to the live links, one frame per link, encoded once when possible. */
  flush = (): void => {
    this.#flushScheduled = false
    const pending = this.#pending
    if (pending.length === 0) return
    this.#pending = []
    this.#pendingBytes = 0
    const origins = new Set(pending.map((p) => p.origin))
    let shared: Uint8Array<ArrayBuffer> | undefined
    for (const link of this.#links) {
      if (origins.has(link)) {
        const updates = pending.filter((p) => p.origin !== link).map((p) => p.update)
        if (updates.length > 0) link.sendFrame(encodePeer.updates(this.name, updates))
      } else {
        shared ??= encodePeer.updates(
          this.name,
          pending.map((p) => p.update),
        )
        link.sendFrame(shared)
      }
    }
  }

  /**
   * Starts relaying this room's live updates to a peer link, and sends it the awareness states
   * held now: they were relayed before the link existed, and would otherwise reach its side
   * only when each client renews its state (every 15 s).
   */
  addLink(link: PeerSink): void {
    this.#links.add(link)
    const clients = [...this.awareness.getStates().keys()]
    if (clients.length > 0) {
      link.sendFrame(encodePeer.roomAwareness(this.name, encodeAwarenessUpdate(this.awareness, clients)))
    }
  }

  /** Stops relaying to a peer link, flushing first so nothing queued for it is lost to others. */
  removeLink(link: PeerSink): void {
    if (!this.#links.has(link)) return
    this.flush()
    this.#links.delete(link)
  }

  /**
   * Applies a whole-state transfer (V2) from a peer. When nobody else would receive it
   * (the usual cold join: no other link, no light peer), Yjs is spared re-encoding the whole
   * state for the update event, which costs seconds at a million keys; the commit is
   * recorded with the received size instead.
   *
   * The update listener is detached only while the received state is the only transaction:
   * an application that writes from a change listener (or reads, flushing queued puts)
   * starts a nested transaction, and the listener comes back before that one is emitted,
   * so no local write can escape replication.
   */
  applyState(update: Uint8Array, origin: object, diverged = false): void {
    this.#applyingDivergence = diverged
    try {
      this.#applyState(() => Y.applyUpdateV2(this.doc, update, origin), update.length, origin)
    } finally {
      this.#applyingDivergence = false
    }
  }

  /** Applies updates this node stored (V1, in order) in one transaction, sparing their re-encoding like applyState. */
  applyStored(updates: readonly Uint8Array[], origin: object): void {
    const bytes = updates.reduce((sum, u) => sum + u.length, 0)
    const apply = (): void =>
      Y.transact(this.doc, () => updates.forEach((u) => Y.applyUpdate(this.doc, u, origin)), origin)
    if (updates.length > 0) this.#applyState(apply, bytes, origin)
  }

  /** Runs `apply`, one transaction of `bytes` received or stored bytes. */
  #applyState(apply: () => void, bytes: number, origin: object): void {
    const relayed = this.#lights.size > 0 || [...this.#links].some((link) => link !== origin)
    if (relayed) {
      apply()
      return
    }
    let applying: Y.Transaction | undefined
    let listening = false
    const listen = (): void => {
      if (listening) return
      listening = true
      this.doc.on('update', this.#onUpdate)
    }
    const begin = (transaction: Y.Transaction): void => {
      if (applying === undefined) applying = transaction
      else listen()
    }
    const record = (transaction: Y.Transaction): void => {
      // Once listening, #onUpdate records every commit itself.
      if (transaction !== applying || listening) return
      // A listener of the commit below may start a transaction, and with it the update
      // listener, before this one's update is emitted: it must not be recorded twice.
      transaction.meta.set(RECORDED, true)
      const changed =
        transaction.deleteSet.clients.size > 0 ||
        [...transaction.afterState].some(([client, clock]) => clock !== transaction.beforeState.get(client))
      if (!changed) return
      // Recorded with the received size: the state was not re-encoded.
      this.#record(bytes, origin, transaction)
    }
    this.doc.off('update', this.#onUpdate)
    this.doc.on('beforeTransaction', begin)
    this.doc.on('afterTransaction', record)
    try {
      apply()
    } finally {
      this.doc.off('beforeTransaction', begin)
      this.doc.off('afterTransaction', record)
      listen()
    }
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
