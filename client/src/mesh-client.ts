import { Emitter, toJsonValue, type JsonValue } from '@mesh/core/browser'
import type { Awareness } from 'y-protocols/awareness'
import type * as Y from 'yjs'
import { Connection } from './connection.js'
import { MeshClientError } from './errors.js'
import type { ClientStatus, MeshClientEvents } from './events.js'
import { clientSettings, type MeshClientOptions } from './options.js'
import type { MeshPresence } from './presence.js'
import { RoomSync } from './room-sync.js'
import { ClientTopics, type ClientTopicHandler } from './topics.js'
import { TabPersistence } from './tab-persistence.js'

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
  /**
   * With `persist`, resolves once the replica stored in IndexedDB is loaded (edits made before
   * the last reload are back); at once without it.
   */
  readonly persisted: Promise<void>
  #tab: TabPersistence | undefined
  #emitter: Emitter<MeshClientEvents>
  #sync: RoomSync
  #topics: ClientTopics
  #connection: Connection
  #closed = false
  #rejectSynced: (error: Error) => void

  constructor(options: MeshClientOptions) {
    const settings = clientSettings(options)
    this.urls = settings.urls
    this.room = settings.room
    const state: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(options.meta ?? {})) state[key] = toJsonValue(value, key)
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- JavaScript callers may pass a number
    if (options.name !== undefined) state.name = String(options.name)

    let resolveSynced: () => void = () => {}
    let rejectSynced: (error: Error) => void = () => {}
    this.synced = new Promise<void>((resolve, reject) => {
      resolveSynced = resolve
      rejectSynced = reject
    })
    // Closing before the first sync must not surface as an unhandled rejection nobody asked for.
    this.synced.catch(() => {})
    this.#rejectSynced = rejectSynced

    this.#emitter = new Emitter((error, event) => this.#listenerFailed(error, event))
    this.#topics = new ClientTopics({
      send: (frame) => this.#connection.send(frame),
      report: (error) => this.#emitter.emit('error', error),
    })
    this.#sync = new RoomSync({
      emitter: this.#emitter,
      presenceState: state,
      send: (frame) => void this.#connection.send(frame),
      topic: (message) => this.#topics.received(message),
      synced: () => {
        this.#connection.markSynced()
        resolveSynced()
      },
      replaced: (doc) => this.#tab?.replaced(doc),
    })
    // Before connecting, so that what the tab stored reaches the node in the first sync.
    this.#tab =
      options.persist && options.persist !== ''
        ? new TabPersistence(options.persist === true ? `mesh:${this.room}` : options.persist, this.#sync.doc)
        : undefined
    this.persisted = this.#tab?.loaded ?? Promise.resolve()
    this.#connection = new Connection({
      settings,
      handler: {
        opened: () => {
          this.#sync.opened()
          this.#topics.opened()
        },
        received: (bytes, current) => this.#sync.received(bytes, current),
        dropped: () => this.#sync.dropped(),
        // No retry will come, so a first sync never will either: whoever awaits it must hear why.
        refused: (error) => rejectSynced(error),
      },
      emitter: this.#emitter,
    })
    this.presence = this.#sync.presence
    if (options.connect !== false) this.connect()
  }

  // ---------------------------------------------------------------- store API

  /**
   * Writes one key, or every key of an object in one transaction (one commit on the nodes).
   * Values must be JSON. Applies locally at once; rejects with `read_only` once a node has
   * refused this client's writes, and with `bad_request` on a bad key or value.
   */
  put(key: string, value: JsonValue): Promise<void>
  put(entries: Record<string, JsonValue>): Promise<void>
  put(keyOrEntries: string | Record<string, JsonValue>, value?: JsonValue): Promise<void> {
    try {
      this.#assertWritable()
      this.#sync.store.put(keyOrEntries, value)
      return Promise.resolve()
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** The value of `key`, or `undefined` (also once a TTL key a node wrote expired). */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T lets a caller name the JSON shape it stored
  get<T extends JsonValue = JsonValue>(key: string): T | undefined {
    return this.#sync.store.get(key) as T | undefined
  }

  /** True when `key` holds a value. */
  has(key: string): boolean {
    return this.get(key) !== undefined
  }

  /** Removes `key` everywhere and resolves with the value it held, or `undefined`. */
  pop(key: string): Promise<JsonValue | undefined> {
    try {
      this.#assertWritable()
      return Promise.resolve(this.#sync.store.pop(key))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Every key currently held. */
  keys(): string[] {
    return this.entries().map(([key]) => key)
  }

  /** Every `[key, value]` pair currently held. */
  entries(): Array<[string, JsonValue]> {
    return this.#sync.store.entries()
  }

  /** Number of keys. */
  get size(): number {
    return this.entries().length
  }

  /** A plain-object snapshot of the whole store. */
  toJSON(): Record<string, JsonValue> {
    return this.#sync.store.toJSON()
  }

  // ---------------------------------------------------------------- pub/sub

  /**
   * Calls `handler(payload, { topic })` for every message published on `topic` anywhere in
   * the mesh while connected (docs/routing.md); returns the unsubscribe. The subscription is
   * renewed on every reconnect; messages sent while offline are missed. A node that refuses
   * it emits an `error` with code `forbidden`.
   *
   * @example const off = client.subscribe('chat:lobby', (message) => render(message))
   */
  subscribe(topic: string, handler: ClientTopicHandler): () => void {
    if (this.#closed) throw new MeshClientError('closed', 'client is closed')
    return this.#topics.subscribe(topic, handler)
  }

  /**
   * Publishes `payload` (JSON) on `topic` to every subscriber in the mesh. Returns false when
   * no socket is open (the message is dropped, not queued). A node that refuses it emits an
   * `error` with code `forbidden`.
   */
  publish(topic: string, payload: JsonValue): boolean {
    if (this.#closed) throw new MeshClientError('closed', 'client is closed')
    return this.#topics.publish(topic, payload)
  }

  // ---------------------------------------------------------------- state

  /** Where the client stands; see {@link ClientStatus}. */
  get status(): ClientStatus {
    return this.#connection.status
  }

  /** Base URL of the node the client is connected or connecting to, else `null`. */
  get url(): string | null {
    return this.#connection.url
  }

  /**
   * True once a node refused this client's writes (a read-only light peer). It stays true:
   * `put` and `pop` reject from then on, and writes no node accepted are rolled back.
   */
  get readOnly(): boolean {
    return this.#sync.readOnly
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * The replicated `Y.Doc`, for shared types beyond the `kv` store. It is replaced once if a
   * read-only node forces a rollback, so read it when needed rather than keeping it.
   */
  get doc(): Y.Doc {
    return this.#sync.doc
  }

  /** The y-protocols awareness behind {@link presence}, for editor bindings that want it. */
  get awareness(): Awareness {
    return this.#sync.awareness
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
    this.#connection.connect()
  }

  /** Goes offline on purpose and stays offline until `connect()`. Edits keep working locally. */
  disconnect(): void {
    this.#connection.disconnect('client disconnected')
  }

  /**
   * Leaves for good: withdraws this client's presence, closes the socket and stops
   * reconnecting. The local replica stays readable. Idempotent.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    // Presence goes first, while the socket is still open to carry the null state.
    this.#sync.close()
    this.#connection.close()
    this.#tab?.close()
    this.#rejectSynced(new MeshClientError('closed', 'client closed before it synced'))
    this.#emitter.clear()
  }

  #assertWritable(): void {
    if (this.#closed) throw new MeshClientError('closed', 'client is closed')
    if (this.#sync.readOnly) {
      throw new MeshClientError('read_only', 'this client is read-only: a node refused its writes')
    }
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
