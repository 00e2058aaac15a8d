import {
  decodeLightFrame,
  jsonEqual,
  MessageType,
  SyncType,
  type Emitter,
  type LightFrameMessage,
} from '@mesh/core/browser'
import { applyAwarenessUpdate, Awareness, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { ClientStore } from './client-store.js'
import type { MeshClientEvents } from './events.js'
import { MeshPresence, presencePeer } from './presence.js'
import { EMPTY_STATE_VECTOR, encodeMessage } from './protocol.js'
import type { TopicFrameMessage } from './topics.js'

type AwarenessChanges = { added: number[]; updated: number[]; removed: number[] }

/** Options of {@link RoomSync}. */
export interface RoomSyncOptions {
  emitter: Emitter<MeshClientEvents>
  /** What this client publishes in presence at first. */
  presenceState: Record<string, unknown>
  /** Sends a frame on the open socket, if any. */
  send: (frame: Uint8Array<ArrayBuffer>) => void
  /** The step2 answering our step1 was applied: we are caught up. */
  synced: () => void
  /** A pub/sub delivery or refusal arrived. */
  topic: (message: TopicFrameMessage) => void
  /** A rollback replaced the replica with this doc. */
  replaced?: (doc: Y.Doc) => void
}

/**
 * The y-protocols conversation of one room over whatever socket the connection holds (see
 * protocol.ts): the handshake, updates both ways, awareness, and the rollback of writes a
 * read-only node refused. Owns the replica (`doc`) and its presence (`awareness`).
 */
export class RoomSync {
  /** The store facade over the replica. */
  readonly store: ClientStore
  /** y-protocols awareness, on its own doc so it survives a rollback. */
  readonly awareness: Awareness
  /** This client's presence and everyone else's, over `awareness`. */
  readonly presence: MeshPresence
  #doc: Y.Doc
  #emitter: Emitter<MeshClientEvents>
  #send: (frame: Uint8Array<ArrayBuffer>) => void
  /** Transaction origin of everything a node sent, so it is not echoed back. */
  #remote = { origin: 'mesh-node' }
  #readOnly = false
  #closed = false
  /** True while the replica may hold writes no node has accepted; see `#denied`. */
  #dirty = false
  /** What each step2 we still expect answers: the handshake, or a read-only rollback. */
  #expected: Array<'handshake' | 'rollback'> = []
  #synced: () => void
  #topic: (message: TopicFrameMessage) => void
  #replaced: ((doc: Y.Doc) => void) | undefined

  constructor(options: RoomSyncOptions) {
    this.#emitter = options.emitter
    this.#send = options.send
    this.#synced = options.synced
    this.#topic = options.topic
    this.#replaced = options.replaced
    this.#doc = new Y.Doc()
    this.#doc.on('update', this.#onDocUpdate)
    this.store = new ClientStore(this.#doc, { emitter: this.#emitter, remoteOrigin: this.#remote })
    // Presence lives on its own tiny doc so it survives a read-only rollback, which swaps the data doc.
    const presenceDoc = new Y.Doc()
    presenceDoc.clientID = this.#doc.clientID
    this.awareness = new Awareness(presenceDoc)
    this.awareness.setLocalState(options.presenceState)
    this.awareness.on('update', this.#onAwarenessUpdate)
    this.awareness.on('change', this.#onAwarenessChange)
    this.presence = new MeshPresence(this.awareness)
  }

  /** The replica; replaced once if a read-only node forces a rollback. */
  get doc(): Y.Doc {
    return this.#doc
  }

  /** True once a node refused this client's writes. */
  get readOnly(): boolean {
    return this.#readOnly
  }

  /** A socket opened: ask for what we lack and publish our presence. */
  opened(): void {
    this.#expected = ['handshake']
    this.#send(encodeMessage.sync(SyncType.step1, Y.encodeStateVector(this.#doc)))
    // Re-set rather than resend: nodes that saw us leave ignore our old clock, so it must
    // grow for the state to count again. The update listener sends it.
    const state = this.awareness.getLocalState()
    if (state !== null) this.awareness.setLocalState(state)
  }

  /** Handles every message of one frame, stopping if the socket stops being ours. */
  received(bytes: Uint8Array, current: () => boolean): void {
    for (const message of decodeLightFrame(bytes)) {
      this.#handle(message)
      if (!current()) return
    }
  }

  /** The socket is gone: pending answers will not come, and others' presence is unknown until the next node tells. */
  dropped(): void {
    this.#expected = []
    if (this.#closed) return
    const self = this.awareness.clientID
    const others = [...this.awareness.getStates().keys()].filter((id) => id !== self)
    if (others.length > 0) removeAwarenessStates(this.awareness, others, this.#remote)
  }

  /** Withdraws our presence while the socket is still open (destroying awareness publishes a null state). */
  close(): void {
    this.#closed = true
    this.awareness.destroy()
  }

  #onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this.#remote) return
    this.#dirty = true
    this.#send(encodeMessage.sync(SyncType.update, update))
  }

  #onAwarenessUpdate = (changes: AwarenessChanges, origin: unknown): void => {
    if (origin === this.#remote) return
    // Only our own entry is ours to publish; the node already has everyone else's.
    const self = this.awareness.clientID
    const { added, updated, removed } = changes
    if (!added.includes(self) && !updated.includes(self) && !removed.includes(self)) return
    this.#send(encodeMessage.awareness(encodeAwarenessUpdate(this.awareness, [self])))
  }

  #onAwarenessChange = (changes: AwarenessChanges): void => {
    if (!this.#emitter.has('presence')) return
    const self = this.awareness.clientID
    const states = this.awareness.getStates()
    const peers = (ids: number[]) =>
      ids.flatMap((id) => {
        const state = states.get(id)
        return state ? [presencePeer(id, state, id === self)] : []
      })
    this.#emitter.emit('presence', {
      peers: this.presence.list(),
      added: peers(changes.added),
      updated: peers(changes.updated),
      removed: changes.removed.map((id) => `light:${id}`),
    })
  }

  #handle(message: LightFrameMessage): void {
    switch (message.type) {
      case MessageType.sync:
        if (message.sub === SyncType.step1) {
          const diff = Y.encodeStateAsUpdate(this.#doc, message.payload)
          this.#send(encodeMessage.sync(SyncType.step2, diff))
          return
        }
        // Decode fully first: Yjs may integrate part of a malformed update before throwing.
        Y.decodeUpdate(message.payload)
        if (message.sub === SyncType.step2 && this.#expected.shift() === 'rollback') {
          this.#rollback(message.payload)
          return
        }
        Y.applyUpdate(this.#doc, message.payload, this.#remote)
        if (message.sub === SyncType.step2) this.#synced()
        return
      case MessageType.awareness:
        applyAwarenessUpdate(this.awareness, message.update, this.#remote)
        return
      case MessageType.auth:
        if (message.denied) this.#denied(message.reason)
        return
      case MessageType.queryAwareness:
        // Only our own entry: the node owns the relay, and answering for others would claim them.
        if (this.awareness.getLocalState() !== null) {
          this.#send(encodeMessage.awareness(encodeAwarenessUpdate(this.awareness, [this.awareness.clientID])))
        }
        return
      case MessageType.message:
      case MessageType.refused:
        return this.#topic(message)
    }
  }

  /**
   * A node refused a write. Nodes refuse every sync message of a read-only peer, even the
   * empty step2 of the handshake, so this usually arrives before the user writes anything.
   * If the replica may hold writes no node accepted, ask for the whole room and swap it in.
   */
  #denied(reason: string): void {
    if (!this.#readOnly) {
      this.#readOnly = true
      this.#emitter.emit('readonly', { reason })
    }
    if (this.#dirty && !this.#expected.includes('rollback')) {
      this.#expected.push('rollback')
      this.#send(encodeMessage.sync(SyncType.step1, EMPTY_STATE_VECTOR))
    }
  }

  /** Replaces the replica with the node's whole state, dropping the refused writes. */
  #rollback(update: Uint8Array): void {
    const fresh = new Y.Doc()
    Y.applyUpdate(fresh, update, this.#remote)
    const before = this.store.toJSON()
    const old = this.#doc
    old.off('update', this.#onDocUpdate)
    this.#doc = fresh
    fresh.on('update', this.#onDocUpdate)
    this.store.attach(fresh)
    this.#replaced?.(fresh)
    old.destroy()
    this.#dirty = false
    const after = this.store.toJSON()
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
      (k) => !jsonEqual(before[k], after[k]),
    )
    if (keys.length > 0) this.#emitter.emit('change', { keys, local: false })
  }
}
