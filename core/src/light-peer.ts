import { applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import * as decoding from 'lib0/decoding'
import * as Y from 'yjs'
import { CloseCode } from './close-codes.js'
import type { Logger } from './logger.js'
import { decodeLight, encodeLight, MessageType, SyncType, toBytes, type LightMessage } from './protocol.js'
import type { LightSink, Room } from './room.js'
import { SOCKET_OPEN, type Connection, type MeshSocket } from './socket.js'

const MAX_REASON = 120

/** What a light peer needs from its node. */
export interface LightHost {
  readonly logger: Logger
  readonly maxMessageBytes: number
  lightDown(peer: LightPeer): void
}

/** Reads the awareness client ids an update announces, so they can be removed when the socket goes. */
const awarenessClients = (update: Uint8Array): number[] => {
  const d = decoding.createDecoder(update)
  const n = decoding.readVarUint(d)
  const ids: number[] = []
  for (let i = 0; i < n; i++) {
    ids.push(decoding.readVarUint(d))
    decoding.readVarUint(d)
    decoding.readVarString(d)
  }
  return ids
}

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
  readonly connectedAt = Date.now()

  constructor(options: { id: string; host: LightHost; socket: MeshSocket; room: Room; readOnly?: boolean }) {
    this.id = options.id
    this.#host = options.host
    this.#socket = options.socket
    this.room = options.room
    this.readOnly = options.readOnly ?? false
    this.room.addLight(this)
    this.sendFrame(encodeLight.sync(SyncType.step1, Y.encodeStateVector(this.room.doc)))
    const states = this.room.awareness.getStates()
    if (states.size > 0) {
      this.sendFrame(encodeLight.awareness(encodeAwarenessUpdate(this.room.awareness, [...states.keys()])))
    }
  }

  /** Awareness client ids this socket announced. */
  get clients(): ReadonlySet<number> {
    return this.#clients
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
    } catch (error) {
      this.#host.logger.debug('light peer send failed', { peer: this.id, error: String(error) })
      this.fail(CloseCode.goingAway, 'send failed')
    }
  }

  /** Handles one frame. Anything malformed closes this socket only and changes nothing. */
  receive(data: Uint8Array | ArrayBuffer | string): void {
    if (this.#closed) return
    if (typeof data === 'string') return this.fail(CloseCode.badMessage, 'text frames are not part of the protocol')
    const bytes = toBytes(data)
    if (bytes.length === 0) return this.fail(CloseCode.badMessage, 'empty frame')
    if (bytes.length > this.#host.maxMessageBytes) {
      return this.fail(CloseCode.tooLarge, `message of ${bytes.length} bytes exceeds ${this.#host.maxMessageBytes}`)
    }
    let message: LightMessage
    try {
      message = decodeLight(bytes)
    } catch (error) {
      return this.fail(CloseCode.badMessage, `malformed message: ${(error as Error).message}`)
    }
    try {
      this.#handle(message)
    } catch (error) {
      this.fail(CloseCode.badMessage, `rejected message: ${(error as Error).message}`)
    }
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
        // Decode fully first: Yjs may integrate part of a malformed update before throwing.
        Y.decodeUpdate(message.payload)
        if (this.readOnly) {
          this.sendFrame(encodeLight.permissionDenied('this connection is read-only'))
          return
        }
        Y.applyUpdate(doc, message.payload, this)
        return
      case MessageType.awareness: {
        const ids = awarenessClients(message.update)
        applyAwarenessUpdate(awareness, message.update, this)
        for (const id of ids) {
          if (awareness.getStates().has(id)) this.#clients.add(id)
          else this.#clients.delete(id)
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
