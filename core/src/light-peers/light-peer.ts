import { applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import { readAwarenessEntries, writeAwarenessEntries, type AwarenessEntry } from '../replication/index.js'
import * as Y from 'yjs'
import { applyLightUpdate, judgeLightUpdate } from './internal-writes.js'
import { CloseCode, errorText } from '../common/index.js'
import type { Logger } from '../common/index.js'
import { receiveFrame, type FrameRules } from '../security/index.js'
import { checkUpdate, EMPTY_STATE_VECTOR, EMPTY_UPDATE, isEmptyUpdate, lightKeepalive } from '../replication/index.js'
import { decodeLight, encodeLight, MessageType, SyncType, type LightMessage } from '../replication/index.js'
import type { Metrics } from '../common/index.js'
import { RateLimiter } from '../common/index.js'
import { SendBuffer, type SendBudget } from '../common/index.js'
import { SyncAnswers, stateAnswer } from './sync-answers.js'
import type { LightSink, Room } from '../replication/index.js'
import { SOCKET_OPEN, type Connection, type MeshSocket } from '../common/index.js'
import type { TopicGrant } from '../security/index.js'
import { LightTopics, type TopicBus } from './light-topics.js'

const MAX_REASON = 120

/** The node's SyncStep1, and its answer to one, for a room that never loaded: the empty state, encoded once. */
const EMPTY_STEP1 = encodeLight.sync(SyncType.step1, EMPTY_STATE_VECTOR)
const EMPTY_STEP2 = encodeLight.sync(SyncType.step2, EMPTY_UPDATE)

/**
 * Least time between two requests to one light peer to sync again after part of its update was
 * dropped (see `LightUpdateJudgement.partial`): a client that holds the missing part pending
 * itself would answer with the same partial update each time.
 */
export const PARTIAL_RESYNC_MS = 1000

/** What a light peer needs from its node. */
export interface LightHost {
  readonly logger: Logger
  readonly maxMessageBytes: number
  readonly metrics: Metrics
  /** Frames per second one light peer may send (bursts of twice that). */
  readonly messagesPerSecond: number
  /** Unsent bytes a socket may hold beyond the largest frame it was sent, before it is closed. */
  readonly sendBufferBytes: number
  /** SyncStep1 answers carrying state the client lacks, per minute (bursts of 4). */
  readonly syncAnswersPerMinute: number
  /** Unsent bytes all light peers may hold together: answers wait while it is spent. */
  readonly sendBudget: SendBudget
  /** The node's pub/sub. */
  readonly topics: TopicBus
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
  /** Awareness client ids this socket speaks for; made with its first awareness entry. */
  #clients: Set<number> | undefined
  #closed = false
  #closeReason: { code: number; reason: string } | undefined
  #rules: FrameRules<LightMessage> | undefined
  #sendBuffer: SendBuffer
  #syncAnswers: SyncAnswers | undefined
  #topics: LightTopics | undefined
  /** The pub/sub topics the `authenticate` hook granted. */
  #grant: TopicGrant | undefined
  /** True once something was sent since the last {@link keepalive} check. */
  #sentSinceCheck = false
  /** When this socket was last asked to sync again (see {@link PARTIAL_RESYNC_MS}). */
  #resyncAskedAt = -Infinity

  constructor(options: {
    id: string
    host: LightHost
    socket: MeshSocket
    room: Room
    readOnly?: boolean
    /** The pub/sub topics the `authenticate` hook granted. Default: its defaults. */
    topics?: TopicGrant
  }) {
    this.id = options.id
    this.#host = options.host
    this.#socket = options.socket
    this.room = options.room
    this.readOnly = options.readOnly ?? false
    this.#grant = options.topics
    // Everything else a socket needs is made when it is first used: an idle socket (anyone may
    // hold one open with a 160-byte upgrade) costs the node little more than the socket itself.
    this.#sendBuffer = new SendBuffer({ limit: options.host.sendBufferBytes })
    options.host.sendBudget.add(this.#socket)
    const room = this.room
    room.addLight(this)
    this.sendFrame(room.loaded ? encodeLight.sync(SyncType.step1, room.stateVector()) : EMPTY_STEP1)
    if (room.awarenessCount > 0) {
      const { awareness } = room
      this.sendFrame(encodeLight.awareness(encodeAwarenessUpdate(awareness, [...awareness.getStates().keys()])))
    }
  }

  #makeRules(): FrameRules<LightMessage> {
    const host = this.#host
    return {
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
  }

  /** Answers a SyncStep1: an empty room that never loaded answers with the empty state, made once. */
  #syncStep1(stateVector: Uint8Array): void {
    if (!this.room.loaded) {
      // Malformed state vectors are refused as a loaded room refuses them.
      Y.decodeStateVector(stateVector)
      return this.sendFrame(EMPTY_STEP2)
    }
    if (!this.#syncAnswers) {
      const doc = this.room.doc
      this.#syncAnswers = new SyncAnswers({
        doc,
        perMinute: this.#host.syncAnswersPerMinute,
        budget: this.#host.sendBudget,
        answer: (sv) => {
          for (const frame of stateAnswer(doc, sv)) this.sendFrame(frame)
        },
      })
    }
    this.#syncAnswers.request(stateVector)
  }

  /** The code and reason this peer was closed with, if it closed itself. */
  get closeReason(): { code: number; reason: string } | undefined {
    return this.#closeReason
  }

  /** Sends a frame if the socket is open; a socket that holds too much unsent is closed instead. */
  sendFrame(frame: Uint8Array<ArrayBuffer>): void {
    if (this.#closed || this.#socket.readyState !== SOCKET_OPEN) return
    const held = this.#sendBuffer.overflow(this.#socket, frame.length)
    if (held !== undefined) {
      const limit = this.#sendBuffer.limit
      this.#host.logger.warn('closing light peer that reads slower than the node sends', {
        peer: this.id,
        room: this.room.name,
        held,
        limit,
      })
      return this.fail(CloseCode.sendBufferFull, `over ${limit} bytes waiting to be sent: the client reads too slowly`)
    }
    try {
      this.#socket.send(frame)
      this.#sentSinceCheck = true
      this.#host.sendBudget.sent(frame.length)
      this.#host.metrics.lightFramesOut++
      this.#host.metrics.lightBytesOut += frame.length
    } catch (error) {
      this.#host.logger.debug('light peer send failed', { peer: this.id, error: errorText(error) })
      this.fail(CloseCode.goingAway, 'send failed')
    }
  }

  /**
   * Called every half keepalive interval: sends the keepalive frame only when nothing else was
   * sent since the last call, so a socket is never silent for more than one interval, and a
   * busy room's sockets are not sent a burst of keepalives on top of their traffic.
   */
  keepalive(frame: Uint8Array<ArrayBuffer>): void {
    if (this.#sentSinceCheck) this.#sentSinceCheck = false
    else this.sendFrame(frame)
  }

  /** Handles one frame. Anything malformed closes this socket only and changes nothing. */
  receive(data: Uint8Array | ArrayBuffer | string): void {
    if (this.#closed) return
    receiveFrame(data, (this.#rules ??= this.#makeRules()))
  }

  #handle(message: LightMessage): void {
    const room = this.room
    switch (message.type) {
      case MessageType.sync:
        if (message.sub === SyncType.step1) return this.#syncStep1(message.payload)
        // Check fully first: Yjs may integrate part of a malformed update before throwing.
        const depth = checkUpdate(message.payload, 'v1')
        // A client's handshake answer with nothing in it leaves an empty room unloaded.
        if (!room.loaded && isEmptyUpdate(message.payload)) return
        if (this.readOnly) {
          // A client's handshake answer with nothing new is not a write; refusing it would only
          // make stock y-websocket clients warn on every connect.
          const decoded = Y.decodeUpdate(message.payload)
          if (decoded.structs.length === 0 && decoded.ds.clients.size === 0) return
          this.sendFrame(encodeLight.permissionDenied('this connection is read-only'))
          return
        }
        const judgement = judgeLightUpdate(room.doc, message.payload, depth)
        if (judgement.refusal) return this.fail(CloseCode.forbidden, `light peers may not send ${judgement.refusal}`)
        if (!room.admit(message.payload.length)) {
          return this.fail(CloseCode.tooLarge, `room "${room.name}" would exceed ${room.maxBytes} bytes`)
        }
        applyLightUpdate(room.doc, message.payload, this, judgement)
        // Part of it waits for content this node lacks, and was dropped: an honest client sends
        // it again, with that content, in its answer to a step 1.
        if (judgement.partial && Date.now() - this.#resyncAskedAt >= PARTIAL_RESYNC_MS) {
          this.#resyncAskedAt = Date.now()
          this.sendFrame(encodeLight.sync(SyncType.step1, room.stateVector()))
        }
        return
      case MessageType.awareness:
        return this.#onAwareness(message.update)
      case MessageType.queryAwareness: {
        // The empty awareness update is the keepalive frame.
        if (room.awarenessCount === 0) return this.sendFrame(lightKeepalive)
        const { awareness } = room
        this.sendFrame(encodeLight.awareness(encodeAwarenessUpdate(awareness, [...awareness.getStates().keys()])))
        return
      }
      case MessageType.auth:
        return
      case MessageType.topic:
      case MessageType.message:
        this.#topics ??= new LightTopics({
          peer: this,
          bus: this.#host.topics,
          grant: this.#grant ?? {},
          logger: this.#host.logger,
          metrics: this.#host.metrics,
        })
        return this.#topics.handle(message)
    }
  }

  /**
   * Applies the entries this socket may speak for. A socket owns the ids it introduced with a
   * state that counted (a fresh clock); it keeps them until it removes them or closes. Stock
   * y-websocket clients echo every change they receive, other users' removals included, so an
   * entry for someone else's id is expected and ignored quietly when it is an echo (a removal,
   * or a clock the node already has). Only a newer state for another socket's id is an attempt
   * to speak for someone else, and is dropped with a warning.
   */
  #onAwareness(update: Uint8Array): void {
    const { awareness } = this.room
    const owners = this.room.awarenessOwners
    const { kept: entries, dropped } = this.room.capAwareness(readAwarenessEntries(update))
    if (dropped > 0)
      this.#host.logger.warn('dropped awareness states for new clients: the room holds as many as it may', {
        peer: this.id,
        room: this.room.name,
        dropped,
      })
    const allowed: AwarenessEntry[] = []
    let echoes = 0
    let refused = 0
    for (const entry of entries) {
      const owner = owners.get(entry.clientId)
      if (owner === this) {
        allowed.push(entry)
        continue
      }
      const known = awareness.meta.get(entry.clientId)?.clock
      const fresh = known === undefined || entry.clock > known
      // A removal never makes a socket the owner of an id, and a stale state changes nothing.
      if (entry.state === 'null' || !fresh) {
        echoes++
        continue
      }
      // Ids of another tab on this node stay its own; an id relayed from another node may be
      // taken over only once its state is gone there (its tab left, or moved to this node).
      const claimable =
        owner === undefined || (!(owner instanceof LightPeer) && !awareness.getStates().has(entry.clientId))
      const clients = (this.#clients ??= new Set())
      if (!claimable || clients.size >= MAX_CLIENTS_PER_SOCKET) {
        refused++
        continue
      }
      owners.set(entry.clientId, this)
      clients.add(entry.clientId)
      allowed.push(entry)
    }
    if (refused > 0) {
      this.#host.logger.warn('dropped awareness entries for clients this socket does not own', {
        peer: this.id,
        dropped: refused,
      })
    }
    if (echoes > 0) this.#host.logger.debug('ignored echoed awareness entries', { peer: this.id, echoes })
    if (allowed.length === 0) return
    applyAwarenessUpdate(
      awareness,
      allowed.length === entries.length && dropped === 0 ? update : writeAwarenessEntries(allowed),
      this,
    )
    for (const { clientId } of allowed) {
      if (!awareness.getStates().has(clientId)) this.#release(clientId)
    }
  }

  /** Gives up an id: it is no longer this socket's, and another tab may introduce it. */
  #release(clientId: number): void {
    this.#clients?.delete(clientId)
    if (this.room.awarenessOwners.get(clientId) === this) this.room.awarenessOwners.delete(clientId)
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
    this.#syncAnswers?.stop()
    this.#topics?.close()
    this.#host.sendBudget.delete(this.#socket)
    this.room.removeLight(this)
    const clients = [...(this.#clients ?? [])]
    if (clients.length > 0) removeAwarenessStates(this.room.awareness, clients, this)
    // Ids whose state had already gone (timed out) raised no removal; release them too.
    for (const clientId of clients) this.#release(clientId)
    this.#host.lightDown(this)
  }
}
