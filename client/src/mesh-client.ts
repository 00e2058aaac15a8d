import { applyAwarenessUpdate, Awareness, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import { YKeyValue } from 'y-utility/y-keyvalue'
import * as Y from 'yjs'
import { MeshClientError } from './errors.js'
import {
  assertKey,
  defineJsonProperty,
  Emitter,
  jsonEqual,
  KV_ARRAY,
  MessageType,
  SyncType,
  toJsonValue,
  type JsonValue,
} from '@mesh/core/browser'
import { MeshPresence, presencePeer, type PresenceEvent } from './presence.js'
import { decodeMessages, EMPTY_STATE_VECTOR, encodeMessage, frameBytes } from './protocol.js'
import type { ServerMessage } from './protocol.js'
import { SOCKET_OPEN, type ClientSocket, type WebSocketConstructor } from './socket.js'

/** The room whose `kv` array nodes expose as their key/value store. */
export const DEFAULT_ROOM = 'default'

/** What the store's entries hold: JSON values written here, or by nodes (with an owner or expiry). */
type StoredValue = JsonValue
type StoredEntry = { key: string; val: JsonValue; exp?: unknown }

const expired = (entry: StoredEntry): boolean => typeof entry.exp === 'number' && entry.exp <= Date.now()

/**
 * Where the client stands:
 * - `connecting`: a socket to a node is opening, or open and catching up;
 * - `synced`: connected and caught up; local edits reach the mesh as they happen;
 * - `offline`: no connection (waiting to retry, `disconnect()`ed, refused or closed). Edits
 *   stay in the local replica and are merged when a connection syncs again.
 */
export type ClientStatus = 'connecting' | 'synced' | 'offline'

/** Emitted when {@link MeshClient.status} changes. */
export interface StatusEvent {
  status: ClientStatus
  /** Base URL of the node the client is connected or connecting to, else `null`. */
  url: string | null
  /** When `offline` and retrying: milliseconds until the next attempt. */
  retryInMs?: number
}

/** Emitted after every change to the store, local or remote. */
export interface ClientChangeEvent {
  keys: string[]
  /** True when this client made the change. */
  local: boolean
}

/** Emitted once, when a node first refuses this client's writes. */
export interface ReadOnlyEvent {
  /** The reason the node gave. */
  reason: string
}

/** Events of {@link MeshClient}. */
export interface MeshClientEvents {
  change: ClientChangeEvent
  status: StatusEvent
  presence: PresenceEvent
  readonly: ReadOnlyEvent
  /** Something went wrong that the client recovers from on its own (or, for `rejected`, gave up on). */
  error: MeshClientError
}

/** Reconnect timing: exponential backoff with full jitter (the same defaults as node links). */
export interface BackoffOptions {
  /** First retry waits up to this long. Default 100 ms. */
  minDelayMs?: number
  /** No retry waits longer than this. Default 5 s. */
  maxDelayMs?: number
}

/** Options of {@link MeshClient}. */
export interface MeshClientOptions {
  /**
   * Node base URLs (`ws://host:port/mesh`; `http(s)://` is turned into `ws(s)://`). The
   * client connects to `${url}/${room}` on one of them and moves to the next on failure.
   */
  urls: string | readonly string[]
  /** The room to replicate. Default `default`, the room nodes serve as their REST key/value store. */
  room?: string
  /** Display name published in presence (`state.name`). */
  name?: string
  /** More presence fields, published with the name. */
  meta?: Record<string, JsonValue>
  /**
   * Access token for nodes with an `authenticate` hook, sent as the WebSocket subprotocol
   * `mesh-token.<token>` (browsers cannot set headers on a WebSocket; this keeps it out of URLs).
   */
  token?: string
  /** WebSocket implementation. Default `globalThis.WebSocket`; in Node 20 pass `WebSocket` from `ws`. */
  WebSocket?: WebSocketConstructor
  /** Reconnect timing. */
  backoff?: BackoffOptions
  /** A connection that receives nothing for this long is dead (nodes send at least every 15 s). Default 30 s. */
  timeoutMs?: number
  /** Connect right away. Default true; with false, call `connect()`. */
  connect?: boolean
  /** Source of jitter, in [0, 1). Default `Math.random`. */
  random?: () => number
}

/** Characters a WebSocket subprotocol may hold (an RFC 7230 token). */
const PROTOCOL_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

const ROOM_NAME = /^[A-Za-z0-9._~:@!$'()*+,;=-]{1,128}$/
const RESERVED_ROOMS = new Set(['api', 'inspector'])

/** The client closes with this when it gives up on a socket that sent garbage. */
const CLOSE_BAD_MESSAGE = 4400

/** 4400–4499 mean "do not retry" (the convention y-websocket follows too). */
const isFinalClose = (code: number): boolean => code >= 4400 && code < 4500

const normalizeUrl = (raw: string): string => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new MeshClientError('bad_option', `"${raw}" is not a URL; expected ws://host:port/mesh`)
  }
  if (url.protocol === 'http:') url.protocol = 'ws:'
  else if (url.protocol === 'https:') url.protocol = 'wss:'
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new MeshClientError('bad_option', `"${raw}" must start with ws://, wss://, http:// or https://`)
  }
  url.hash = ''
  url.pathname = url.pathname.replace(/\/+$/, '')
  return url.toString()
}

/** `${base}/${room}`, keeping any query string of the base (e.g. an access token) at the end. */
const roomUrl = (base: string, room: string): string => {
  const url = new URL(base)
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(room)}`
  return url.toString()
}

type Timer = ReturnType<typeof setTimeout>

/**
 * A light peer: a full replica of one room, kept in sync with any node of the mesh over its
 * `/mesh/:room` endpoint (y-protocols, like `y-websocket`), with the node store's API.
 *
 * Writes apply locally at once and reach the mesh when connected; offline they wait in the
 * local replica and merge on reconnect. On a lost connection the client moves to the next
 * URL, with exponential backoff and jitter. Browser-safe; in Node pass a `WebSocket`.
 *
 * @example
 * const client = new MeshClient({ urls: ['ws://127.0.0.1:4000/mesh', 'ws://127.0.0.1:4001/mesh'], name: 'Ada' })
 * client.on('change', ({ keys }) => render(keys))
 * await client.synced
 * await client.put('flag:dark-mode', true)
 */
export class MeshClient {
  /** The room this client replicates. */
  readonly room: string
  /** The node base URLs, normalized, in failover order. */
  readonly urls: readonly string[]
  /** This client's presence and everyone else's. */
  readonly presence: MeshPresence
  /**
   * Resolves the first time the client is synced. Rejects with a `closed` error if it is
   * closed before, and with a `rejected` one (with `closeCode` and `reason`) if a node
   * refuses it for good (a 4400–4499 close, e.g. 4401 unauthorized, 4403 forbidden).
   */
  readonly synced: Promise<void>
  #doc: Y.Doc
  /** The store's layout ({ key, val } entries in array `kv`) through y-utility, fine for a tab's few keys. */
  #kv!: YKeyValue<StoredValue>
  #awareness: Awareness
  #WebSocket: WebSocketConstructor
  #protocols: string[] | undefined
  #emitter: Emitter<MeshClientEvents>
  #socket: ClientSocket | undefined
  #socketUrl: string | null = null
  #status: ClientStatus = 'offline'
  #wanted = false
  #closed = false
  #readOnly = false
  /** True while the replica may hold writes no node has accepted; see `#denied`. */
  #dirty = false
  /** What each step2 we still expect answers: the handshake, or a read-only rollback. */
  #expected: Array<'handshake' | 'rollback'> = []
  #urlIndex = 0
  #attempt = 0
  #retry: Timer | undefined
  #liveness: ReturnType<typeof setInterval> | undefined
  #lastMessageAt = 0
  #timeoutMs: number
  #minDelayMs: number
  #maxDelayMs: number
  #random: () => number
  /** Transaction origin of everything a node sent, so it is not echoed back. */
  #remote = { origin: 'mesh-node' }
  #resolveSynced: () => void = () => {}
  #rejectSynced: (error: Error) => void = () => {}

  constructor(options: MeshClientOptions) {
    const urls = typeof options.urls === 'string' ? [options.urls] : [...(options.urls ?? [])]
    if (urls.length === 0) {
      throw new MeshClientError('bad_option', 'urls must list at least one node URL, e.g. ws://127.0.0.1:4000/mesh')
    }
    this.urls = urls.map(normalizeUrl)
    this.room = options.room ?? DEFAULT_ROOM
    if (!ROOM_NAME.test(this.room) || RESERVED_ROOMS.has(this.room)) {
      throw new MeshClientError('bad_option', `"${this.room.slice(0, 40)}" is not a valid room name`)
    }
    const Impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (!Impl) {
      throw new MeshClientError(
        'bad_option',
        'no global WebSocket here; pass { WebSocket } (in Node: from the ws package)',
      )
    }
    this.#WebSocket = Impl
    if (options.token !== undefined) {
      if (!PROTOCOL_TOKEN.test(options.token)) {
        throw new MeshClientError(
          'bad_option',
          'token has characters a subprotocol cannot carry; pass it as ?token= in the URLs',
        )
      }
      this.#protocols = [`mesh-token.${options.token}`]
    }
    this.#timeoutMs = options.timeoutMs ?? 30_000
    this.#minDelayMs = options.backoff?.minDelayMs ?? 100
    this.#maxDelayMs = options.backoff?.maxDelayMs ?? 5000
    this.#random = options.random ?? Math.random
    this.#emitter = new Emitter((error, event) => this.#listenerFailed(error, event))

    this.#doc = new Y.Doc()
    this.#attach(this.#doc)
    // Presence lives on its own tiny doc so it survives a read-only rollback, which swaps the data doc.
    const presenceDoc = new Y.Doc()
    presenceDoc.clientID = this.#doc.clientID
    this.#awareness = new Awareness(presenceDoc)
    const state: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(options.meta ?? {})) state[key] = toJsonValue(value, key)
    if (options.name !== undefined) state.name = String(options.name)
    this.#awareness.setLocalState(state)
    this.#awareness.on('update', this.#onAwarenessUpdate)
    this.#awareness.on('change', this.#onAwarenessChange)
    this.presence = new MeshPresence(this.#awareness)

    this.synced = new Promise<void>((resolve, reject) => {
      this.#resolveSynced = resolve
      this.#rejectSynced = reject
    })
    // Closing before the first sync must not surface as an unhandled rejection nobody asked for.
    this.synced.catch(() => {})
    if (options.connect !== false) this.connect()
  }

  // ---------------------------------------------------------------- store API

  /**
   * Writes one key, or every key of an object in one transaction (one commit on the nodes).
   * Values must be JSON. Applies locally at once; rejects with `read_only` once a node has
   * refused this client's writes, and with `bad_request` on a bad key or value.
   */
  put(key: string, value: unknown): Promise<void>
  put(entries: Record<string, unknown>): Promise<void>
  put(keyOrEntries: string | Record<string, unknown>, value?: unknown): Promise<void> {
    try {
      this.#assertWritable()
      const kv = this.#kv
      if (typeof keyOrEntries === 'string') {
        const key = assertKey(keyOrEntries)
        if (value === undefined) {
          throw new MeshClientError('bad_request', `value for "${key}" is undefined; use pop to remove`)
        }
        const json = toJsonValue(value, key)
        this.#doc.transact(() => kv.set(key, json))
        return Promise.resolve()
      }
      if (typeof keyOrEntries !== 'object' || keyOrEntries === null || Array.isArray(keyOrEntries)) {
        throw new MeshClientError('bad_request', 'put takes a key and a value, or an object of keys and values')
      }
      const entries = Object.entries(keyOrEntries).map(([k, v]) => {
        if (v === undefined)
          throw new MeshClientError('bad_request', `value for "${k}" is undefined; use pop to remove`)
        return [assertKey(k), toJsonValue(v, k)] as const
      })
      if (entries.length > 0) {
        this.#doc.transact(() => {
          for (const [k, v] of entries) kv.set(k, v)
        })
      }
      return Promise.resolve()
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** The value of `key`, or `undefined` (also once a TTL key a node wrote expired). */
  get(key: string): JsonValue | undefined {
    const entry = this.#kv.map.get(key) as StoredEntry | undefined
    return entry && !expired(entry) ? entry.val : undefined
  }

  /** True when `key` holds a value. */
  has(key: string): boolean {
    return this.get(key) !== undefined
  }

  /** Removes `key` everywhere and resolves with the value it held, or `undefined`. */
  pop(key: string): Promise<JsonValue | undefined> {
    try {
      this.#assertWritable()
    } catch (error) {
      return Promise.reject(error)
    }
    const value = this.get(key)
    if (this.#kv.has(key)) this.#doc.transact(() => this.#kv.delete(key))
    return Promise.resolve(value)
  }

  /** Every key currently held. */
  keys(): string[] {
    return this.entries().map(([key]) => key)
  }

  /** Every `[key, value]` pair currently held. */
  entries(): Array<[string, JsonValue]> {
    const out: Array<[string, JsonValue]> = []
    for (const [key, entry] of this.#kv.map as Map<string, StoredEntry>) if (!expired(entry)) out.push([key, entry.val])
    return out
  }

  /** Number of keys. */
  get size(): number {
    return this.entries().length
  }

  /** A plain-object snapshot of the whole store. */
  toJSON(): Record<string, JsonValue> {
    const out: Record<string, JsonValue> = {}
    for (const [key, value] of this.entries()) defineJsonProperty(out, key, value)
    return out
  }

  // ---------------------------------------------------------------- state

  /** Where the client stands; see {@link ClientStatus}. */
  get status(): ClientStatus {
    return this.#status
  }

  /** Base URL of the node the client is connected or connecting to, else `null`. */
  get url(): string | null {
    return this.#socketUrl
  }

  /**
   * True once a node refused this client's writes (a read-only light peer). It stays true:
   * `put` and `pop` reject from then on, and writes no node accepted are rolled back.
   */
  get readOnly(): boolean {
    return this.#readOnly
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * The replicated `Y.Doc`, for shared types beyond the `kv` map. It is replaced once if a
   * read-only node forces a rollback, so read it when needed rather than keeping it.
   */
  get doc(): Y.Doc {
    return this.#doc
  }

  /** The y-protocols awareness behind {@link presence}, for editor bindings that want it. */
  get awareness(): Awareness {
    return this.#awareness
  }

  // ---------------------------------------------------------------- events

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof MeshClientEvents>(event: K, listener: (payload: MeshClientEvents[K]) => void): () => void {
    return this.#emitter.on(event, listener)
  }

  /** Subscribes to the next emission of an event. */
  once<K extends keyof MeshClientEvents>(event: K, listener: (payload: MeshClientEvents[K]) => void): () => void {
    return this.#emitter.once(event, listener)
  }

  /** Unsubscribes. */
  off<K extends keyof MeshClientEvents>(event: K, listener: (payload: MeshClientEvents[K]) => void): void {
    this.#emitter.off(event, listener)
  }

  // ---------------------------------------------------------------- connection

  /** Connects (or reconnects now, skipping any backoff wait). Called by the constructor unless `connect: false`. */
  connect(): void {
    if (this.#closed) throw new MeshClientError('closed', 'client is closed')
    this.#wanted = true
    if (this.#socket) return
    clearTimeout(this.#retry)
    this.#retry = undefined
    this.#attempt = 0
    this.#open()
  }

  /** Goes offline on purpose and stays offline until `connect()`. Edits keep working locally. */
  disconnect(): void {
    this.#wanted = false
    clearTimeout(this.#retry)
    this.#retry = undefined
    const socket = this.#socket
    if (socket) {
      this.#drop(socket, undefined)
      this.#closeSocket(socket, 1000, 'client disconnected')
    }
    this.#setStatus('offline')
  }

  /**
   * Leaves for good: withdraws this client's presence, closes the socket and stops
   * reconnecting. The local replica stays readable. Idempotent.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#wanted = false
    clearTimeout(this.#retry)
    this.#retry = undefined
    // Destroying awareness publishes a null state, which reaches the node while the socket is open.
    this.#awareness.destroy()
    const socket = this.#socket
    if (socket) {
      this.#drop(socket, undefined)
      this.#closeSocket(socket, 1000, 'client closed')
    }
    this.#setStatus('offline')
    this.#rejectSynced(new MeshClientError('closed', 'client closed before it synced'))
    this.#emitter.clear()
  }

  // ---------------------------------------------------------------- internals

  #assertWritable(): void {
    if (this.#closed) throw new MeshClientError('closed', 'client is closed')
    if (this.#readOnly) throw new MeshClientError('read_only', 'this client is read-only: a node refused its writes')
  }

  #attach(doc: Y.Doc): void {
    doc.on('update', this.#onDocUpdate)
    this.#kv = new YKeyValue<StoredValue>(doc.getArray(KV_ARRAY))
    this.#kv.on('change', this.#onKv)
  }

  #detach(doc: Y.Doc): void {
    doc.off('update', this.#onDocUpdate)
    this.#kv.off('change', this.#onKv)
  }

  #onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this.#remote) return
    this.#dirty = true
    this.#send(encodeMessage.sync(SyncType.update, update))
  }

  #onKv = (changes: Map<string, unknown>, transaction: Y.Transaction): void => {
    if (!this.#emitter.has('change')) return
    this.#emitter.emit('change', { keys: [...changes.keys()], local: transaction.origin !== this.#remote })
  }

  #onAwarenessUpdate = (changes: { added: number[]; updated: number[]; removed: number[] }, origin: unknown): void => {
    if (origin === this.#remote) return
    // Only our own entry is ours to publish; the node already has everyone else's.
    const self = this.#awareness.clientID
    const { added, updated, removed } = changes
    if (!added.includes(self) && !updated.includes(self) && !removed.includes(self)) return
    this.#send(encodeMessage.awareness(encodeAwarenessUpdate(this.#awareness, [self])))
  }

  #onAwarenessChange = (changes: { added: number[]; updated: number[]; removed: number[] }): void => {
    if (!this.#emitter.has('presence')) return
    const self = this.#awareness.clientID
    const states = this.#awareness.getStates()
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

  #send(frame: Uint8Array<ArrayBuffer>): void {
    const socket = this.#socket
    if (!socket || socket.readyState !== SOCKET_OPEN) return
    try {
      socket.send(frame)
    } catch {
      // A socket that cannot send is closing; its close event does the cleanup.
    }
  }

  #open(): void {
    if (!this.#wanted || this.#closed || this.#socket) return
    this.#retry = undefined
    const base = this.urls[this.#urlIndex % this.urls.length] as string
    let socket: ClientSocket
    try {
      const url = roomUrl(base, this.room)
      socket = this.#protocols ? new this.#WebSocket(url, this.#protocols) : new this.#WebSocket(url)
    } catch (error) {
      this.#report(new MeshClientError('bad_option', `cannot open a WebSocket to ${base}`, { cause: error }))
      this.#urlIndex++
      this.#scheduleRetry()
      return
    }
    socket.binaryType = 'arraybuffer'
    this.#socket = socket
    this.#socketUrl = base
    this.#expected = []
    this.#lastMessageAt = Date.now()
    // Handlers go on before anything can arrive: the node speaks first.
    socket.onmessage = (event) => {
      if (this.#socket !== socket) return
      this.#lastMessageAt = Date.now()
      this.#receive(socket, event.data)
    }
    socket.onopen = () => {
      if (this.#socket !== socket) return
      this.#lastMessageAt = Date.now()
      this.#expected.push('handshake')
      this.#send(encodeMessage.sync(SyncType.step1, Y.encodeStateVector(this.#doc)))
      // Re-set rather than resend: nodes that saw us leave ignore our old clock, so it must
      // grow for the state to count again. The update listener sends it.
      const state = this.#awareness.getLocalState()
      if (state !== null) this.#awareness.setLocalState(state)
    }
    socket.onclose = (event) => {
      if (this.#socket === socket) this.#drop(socket, event)
    }
    // Every error is followed by a close event, which does the work.
    socket.onerror = () => {}
    // Also covers a socket that never opens: some networks blackhole instead of refusing.
    this.#liveness = setInterval(
      () => {
        if (this.#socket !== socket || Date.now() - this.#lastMessageAt < this.#timeoutMs) return
        this.#drop(socket, undefined)
        this.#closeSocket(socket, 1000, 'no message within timeout')
      },
      Math.max(10, Math.min(this.#timeoutMs / 10, 3000)),
    )
    this.#setStatus('connecting')
  }

  /** Forgets a socket that closed or that we are closing, then retries unless told not to. */
  #drop(socket: ClientSocket, event: { code: number; reason: string } | undefined): void {
    if (this.#socket !== socket) return
    this.#socket = undefined
    this.#socketUrl = null
    socket.onopen = null
    socket.onmessage = null
    socket.onclose = null
    clearInterval(this.#liveness)
    this.#liveness = undefined
    this.#expected = []
    const wasSynced = this.#status === 'synced'
    // Others' presence is unknown while offline; the next node sends what it knows.
    if (!this.#closed) {
      const self = this.#awareness.clientID
      const others = [...this.#awareness.getStates().keys()].filter((id) => id !== self)
      if (others.length > 0) removeAwarenessStates(this.#awareness, others, this.#remote)
    }
    // Any node will do, and the one that just failed is the least likely to answer.
    this.#urlIndex++
    if (wasSynced) this.#attempt = 0
    if (event && isFinalClose(event.code)) {
      this.#wanted = false
      const refusal = new MeshClientError(
        'rejected',
        `node closed the connection with ${event.code}${event.reason ? ` (${event.reason})` : ''}; not retrying`,
        { closeCode: event.code, reason: event.reason },
      )
      this.#report(refusal)
      // No retry will come, so a first sync never will either: whoever awaits it must hear why.
      this.#rejectSynced(refusal)
    }
    if (!this.#wanted) {
      this.#setStatus('offline')
      return
    }
    this.#scheduleRetry()
  }

  #closeSocket(socket: ClientSocket, code: number, reason: string): void {
    try {
      socket.close(code, reason)
    } catch {
      // Already closed.
    }
  }

  #scheduleRetry(): void {
    if (!this.#wanted || this.#closed) return
    const ceiling = Math.min(this.#maxDelayMs, this.#minDelayMs * 2 ** this.#attempt)
    this.#attempt = Math.min(this.#attempt + 1, 30)
    const delay = Math.round(Math.max(10, this.#random() * ceiling))
    this.#retry = setTimeout(() => this.#open(), delay)
    this.#setStatus('offline', delay)
  }

  #setStatus(status: ClientStatus, retryInMs?: number): void {
    if (status === this.#status) return
    this.#status = status
    const event: StatusEvent = { status, url: this.#socketUrl }
    if (retryInMs !== undefined) event.retryInMs = retryInMs
    this.#emitter.emit('status', event)
  }

  #receive(socket: ClientSocket, data: unknown): void {
    const bytes = frameBytes(data)
    let messages: ServerMessage[]
    try {
      if (!bytes) throw new Error('text frames are not part of the protocol')
      messages = decodeMessages(bytes)
    } catch (error) {
      return this.#badMessage(socket, error)
    }
    for (const message of messages) {
      try {
        this.#handle(message)
      } catch (error) {
        return this.#badMessage(socket, error)
      }
      if (this.#socket !== socket) return
    }
  }

  #badMessage(socket: ClientSocket, error: unknown): void {
    this.#report(
      new MeshClientError('bad_message', `bad message from ${this.#socketUrl}: ${(error as Error).message}`, {
        cause: error,
      }),
    )
    this.#drop(socket, undefined)
    this.#closeSocket(socket, CLOSE_BAD_MESSAGE, 'bad message')
  }

  #handle(message: ServerMessage): void {
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
        if (message.sub === SyncType.step2) this.#markSynced()
        return
      case MessageType.awareness:
        applyAwarenessUpdate(this.#awareness, message.update, this.#remote)
        return
      case MessageType.auth:
        if (message.denied) this.#denied(message.reason)
        return
      case MessageType.queryAwareness:
        // Only our own entry: the node owns the relay, and answering for others would claim them.
        if (this.#awareness.getLocalState() !== null) {
          this.#send(encodeMessage.awareness(encodeAwarenessUpdate(this.#awareness, [this.#awareness.clientID])))
        }
        return
    }
  }

  #markSynced(): void {
    if (this.#status === 'synced') return
    this.#attempt = 0
    this.#setStatus('synced')
    this.#resolveSynced()
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
    const before = this.toJSON()
    const old = this.#doc
    this.#detach(old)
    this.#doc = fresh
    this.#attach(fresh)
    old.destroy()
    this.#dirty = false
    const after = this.toJSON()
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
      (k) => !jsonEqual(before[k], after[k]),
    )
    if (keys.length > 0) this.#emitter.emit('change', { keys, local: false })
  }

  #report(error: MeshClientError): void {
    this.#emitter.emit('error', error)
  }

  #listenerFailed(error: unknown, event: keyof MeshClientEvents): void {
    if (event !== 'error' && this.#emitter.has('error')) {
      this.#emitter.emit('error', new MeshClientError('listener', `a "${event}" listener threw`, { cause: error }))
      return
    }
    // No one handles errors here: surface it the way a browser reports a throwing event listener.
    ;(globalThis as { reportError?: (error: unknown) => void }).reportError?.(error)
  }
}
