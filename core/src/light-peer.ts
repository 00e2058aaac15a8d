import { applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import { readAwarenessEntries, writeAwarenessEntries } from './awareness-entries.js'
import * as Y from 'yjs'
import { claimsNodeFields } from './internal-writes.js'
import { CloseCode } from './close-codes.js'
import type { Logger } from './logger.js'
import { receiveFrame, type FrameRules } from './frame-guard.js'
import { checkUpdate } from './update-check.js'
import { decodeLight, encodeLight, MessageType, SyncType, type LightMessage } from './protocol.js'
import type { Metrics } from './metrics.js'
import { RateLimiter } from './rate-limiter.js'
import type { LightSink, Room } from './room.js'
import { SOCKET_OPEN, type Connection, type MeshSocket } from './socket.js'

const MAX_REASON = 120

/** What a light peer needs from its node. */
export interface LightHost {
  readonly logger: Logger
  readonly maxMessageBytes: number
  readonly metrics: Metrics
  /** Frames per second one light peer may send (bursts of twice that). */
  readonly messagesPerSecond: number
  lightDown(peer: LightPeer): void
}

/** Awareness client ids one socket may speak for (a tab normally has one). */
const MAX_CLIENTS_PER_SOCKET = 8

/**
 * A browser tab (or any `y-websocket` client) connected to one room: y-protocols sync and
 * awareness, one message per frame. The node speaks first.
 */
export class LightPeer implements Connection, LightSink {
  /** A number unique on this node, used in history as `light:<n>`. */
  readonly id: string
  readonly room: Room
  readonly readOnly: boolean
  #host: LightHost
  #socket: MeshSocket
  #clients = new Set<number>()
  #closed = false
  #closeReason: { code: number; reason: string } | undefined
  #rules: FrameRules<LightMessage>

  constructor(options: { id: string; host: LightHost; socket: MeshSocket; room: Room; readOnly?: boolean }) {
    this.id = options.id
    this.#host = options.host
    this.#socket = options.socket
    this.room = options.room
    this.readOnly = options.readOnly ?? false
    const host = options.host
    this.#rules = {
      maxBytes: host.maxMessageBytes,
      limiter: new RateLimiter(host.messagesPerSecond),
      count: (bytes) => {
        host.metrics.lightFramesIn++
        host.metrics.lightBytesIn += bytes
      },
      decode: decodeLight,
      handle: (message) => this.#handle(message),
      fail: (code, reason) => this.fail(code, reason),
    }
    this.room.addLight(this)
    this.sendFrame(encodeLight.sync(SyncType.step1, Y.encodeStateVector(this.room.doc)))
    const states = this.room.awareness.getStates()
    if (states.size > 0) {
      this.sendFrame(encodeLight.awareness(encodeAwarenessUpdate(this.room.awareness, [...states.keys()])))
    }
  }

  /** The code and reason this peer was closed with, if it closed itself. */
  get closeReason(): { code: number; reason: string } | undefined {
    return this.#closeReason
  }

  /** Sends a frame if the socket is open. */
  sendFrame(frame: Uint8Array<ArrayBuffer>): void {
    if (this.#closed || this.#socket.readyState !== SOCKET_OPEN) return
    try {
      this.#socket.send(frame)
      this.#host.metrics.lightFramesOut++
      this.#host.metrics.lightBytesOut += frame.length
    } catch (error) {
      this.#host.logger.debug('light peer send failed', { peer: this.id, error: String(error) })
      this.fail(CloseCode.goingAway, 'send failed')
    }
  }

  /** Handles one frame. Anything malformed closes this socket only and changes nothing. */
  receive(data: Uint8Array | ArrayBuffer | string): void {
    if (this.#closed) return
    receiveFrame(data, this.#rules)
  }

  #handle(message: LightMessage): void {
    const { doc, awareness } = this.room
    switch (message.type) {
      case MessageType.sync:
        if (message.sub === SyncType.step1) {
          const diff = Y.encodeStateAsUpdate(doc, message.payload)
          this.sendFrame(encodeLight.sync(SyncType.step2, diff))
          return
        }
        // Check fully first: Yjs may integrate part of a malformed update before throwing.
        checkUpdate(message.payload, 'v1')
        if (this.readOnly) {
          // A client's handshake answer with nothing new is not a write; refusing it would only
          // make stock y-websocket clients warn on every connect.
          const decoded = Y.decodeUpdate(message.payload)
          if (decoded.structs.length === 0 && decoded.ds.clients.size === 0) return
          this.sendFrame(encodeLight.permissionDenied('this connection is read-only'))
          return
        }
        if (claimsNodeFields(doc, message.payload)) {
          return this.fail(CloseCode.forbidden, 'light peers may not write store entries with an owner or an expiry')
        }
        if (!this.room.admit(message.payload.length)) {
          return this.fail(CloseCode.tooLarge, `room "${this.room.name}" would exceed ${this.room.maxBytes} bytes`)
        }
        Y.applyUpdate(doc, message.payload, this)
        return
      case MessageType.awareness: {
        // A socket may set or remove only its own clients' states, never another tab's.
        const owners = this.room.awarenessOwners
        const entries = readAwarenessEntries(message.update)
        const allowed = entries.filter((entry) => {
          const owner = owners.get(entry.clientId)
          if (owner === this) return true
          return owner === undefined && this.#clients.size < MAX_CLIENTS_PER_SOCKET
        })
        if (allowed.length < entries.length) {
          this.#host.logger.warn('dropped awareness entries for clients this socket does not own', {
            peer: this.id,
            dropped: entries.length - allowed.length,
          })
        }
        if (allowed.length === 0) return
        for (const entry of allowed) {
          owners.set(entry.clientId, this)
          this.#clients.add(entry.clientId)
        }
        const update = allowed.length === entries.length ? message.update : writeAwarenessEntries(allowed)
        applyAwarenessUpdate(awareness, update, this)
        for (const { clientId } of allowed) {
          if (!awareness.getStates().has(clientId)) this.#clients.delete(clientId)
        }
        return
      }
      case MessageType.queryAwareness: {
        const ids = [...awareness.getStates().keys()]
        this.sendFrame(encodeLight.awareness(encodeAwarenessUpdate(awareness, ids)))
        return
      }
      case MessageType.auth:
        return
    }
  }

  /** Closes the socket with a code and reason, and cleans up. */
  fail(code: number, reason: string): void {
    if (this.#closed) return
    const text = reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason
    this.#closeReason = { code, reason: text }
    this.#host.metrics.closed(code)
    if (code >= 4000)
      this.#host.logger.warn('closing light peer', { peer: this.id, room: this.room.name, code, reason })
    try {
      this.#socket.close(code, text)
    } catch {
      // Already closed; cleanup is what matters.
    }
    this.close()
  }

  /** Cleans up after the socket closed: its awareness states are removed everywhere. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.room.removeLight(this)
    if (this.#clients.size > 0) removeAwarenessStates(this.room.awareness, [...this.#clients], this)
    this.#host.lightDown(this)
  }
}
