import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import * as Y from 'yjs'
import type { Commit, CommitLog } from './history.js'
import { encodeLight, encodePeer, SyncType } from './protocol.js'

/** Name of the map that holds the key/value store in every room. */
export const KV_MAP = 'kv'

/** Name of the map that holds per-key ownership and expiry (ephemeral and TTL keys). */
export const KV_META_MAP = 'kv-meta'

/** What `kv-meta` holds for an ephemeral or TTL key. */
export interface KeyMeta {
  /** Node id that owns an ephemeral key. */
  owner?: string
  /** Expiry of a TTL key, in milliseconds since the epoch by the writer's clock. */
  expiresAt?: number
}

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
  /** Called after every transaction that touched the `kv` map. */
  onKeys(room: Room, keys: string[], origin: unknown, transaction: Y.Transaction): void
  /** Called for every commit added to the history. */
  committed(commit: Commit): void
}

/**
 * One replicated document: a `Y.Doc`, its `Awareness`, and the fan-out of its changes to
 * peer links (batched per tick, V2 encoding) and light peers (one V1 message per frame).
 */
export class Room {
  readonly name: string
  readonly doc: Y.Doc
  readonly awareness: Awareness
  readonly kv: Y.Map<unknown>
  readonly kvMeta: Y.Map<KeyMeta>
  /** Which connection (light peer or peer link) speaks for each awareness client id. */
  readonly awarenessOwners = new Map<number, object>()
  #links = new Set<PeerSink>()
  #lights = new Set<LightSink>()
  #pending: Array<{ update: Uint8Array; origin: unknown }> = []
  #pendingBytes = 0
  #flushScheduled = false
  #log: CommitLog
  #hooks: RoomHooks
  #destroyed = false

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
    this.kv = this.doc.getMap(KV_MAP)
    this.kvMeta = this.doc.getMap(KV_META_MAP)
    this.awareness = new Awareness(this.doc)
    // A node is not an editor: it holds no awareness state of its own.
    this.awareness.setLocalState(null)
    this.kv.observe((event) => {
      const keys = [...event.keysChanged]
      event.transaction.meta.set(KV_MAP, keys)
      this.#hooks.onKeys(this, keys, event.transaction.origin, event.transaction)
    })
    // One V1 encoding per transaction serves both peer links and light peers. V1 is cheaper to
    // produce for the small updates of live traffic (V2 allocates a dozen column buffers);
    // whole-state transfers (diff, full) stay V2, where it is far more compact.
    this.doc.on('update', this.#onUpdate)
    this.awareness.on('update', this.#onAwareness)
  }

  #onUpdate = (update: Uint8Array, origin: unknown, _doc: Y.Doc, transaction: Y.Transaction): void => {
    const who = this.#hooks.describe(origin, transaction)
    const commit = this.#log.add({
      room: this.name,
      origin: who.origin,
      via: who.via,
      time: Date.now(),
      bytes: update.length,
      keys: (transaction.meta.get(KV_MAP) as string[] | undefined) ?? [],
    })
    this.#hooks.committed(commit)
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
    if (this.#links.size > 0) {
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
   */
  applyState(update: Uint8Array, origin: object): void {
    const relayed = this.#lights.size > 0 || [...this.#links].some((link) => link !== origin)
    if (relayed) {
      Y.applyUpdateV2(this.doc, update, origin)
      return
    }
    const record = (transaction: Y.Transaction): void => {
      const changed =
        transaction.deleteSet.clients.size > 0 ||
        [...transaction.afterState].some(([client, clock]) => clock !== transaction.beforeState.get(client))
      if (!changed) return
      const who = this.#hooks.describe(origin, transaction)
      const keys = (transaction.meta.get(KV_MAP) as string[] | undefined) ?? []
      const commit = this.#log.add({
        room: this.name,
        origin: who.origin,
        via: who.via,
        time: Date.now(),
        bytes: update.length,
        keys,
      })
      this.#hooks.committed(commit)
    }
    this.doc.off('update', this.#onUpdate)
    this.doc.on('afterTransaction', record)
    try {
      Y.applyUpdateV2(this.doc, update, origin)
    } finally {
      this.doc.off('afterTransaction', record)
      this.doc.on('update', this.#onUpdate)
    }
  }

  /** Starts relaying to a light peer. */
  addLight(light: LightSink): void {
    this.#lights.add(light)
  }

  /** Stops relaying to a light peer. */
  removeLight(light: LightSink): void {
    this.#lights.delete(light)
  }

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
