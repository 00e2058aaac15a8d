import * as Y from 'yjs'
import { CloseCode } from '../common/index.js'
import { CONFLICT_POLICIES, YieldOrigin, type ConflictPolicy } from '../replication/index.js'
import {
  decide,
  describeRequest,
  findToken,
  type AuthDecision,
  type Authenticate,
  type AuthRequest,
} from '../security/index.js'
import type { Discovery } from '../membership/index.js'
import { PendingConnection } from '../security/index.js'
import { Metrics } from '../common/index.js'
import type { Metric, NodeStatus, PeerStatus } from '../observability/index.js'
import { Emitter } from '../common/index.js'
import { INSPECT_ROOM, InspectorFeed } from '../observability/index.js'
import { MeshConflictError, MeshError } from '../common/index.js'
import { CommitLog, type Commit } from '../replication/index.js'
import type { KeyChange } from '../store/index.js'
import { toJsonValue, type JsonValue } from '../common/index.js'
import { LightPeer, type LightHost } from '../light-peers/index.js'
import { silentLogger, type Logger } from '../common/index.js'
import {
  Membership,
  parseGossip,
  type Member,
  type MemberRecord,
  type MemberState,
  type MembershipOptions,
} from '../membership/index.js'
import { PeerDialer, type BackoffOptions, type DialerHost } from '../replication/index.js'
import { PeerLink, type LinkHost, type LinkRoomState, type MergeReport } from '../replication/index.js'
import { encodePeer, lightKeepalive, type Resolution } from '../replication/index.js'
import { Room, type RoomHooks } from '../replication/index.js'
import type { Connection, MeshSocket } from '../common/index.js'
import { MeshStore, type PutOptions } from '../store/index.js'
import type { HistoryRelation } from '../replication/index.js'

/** The room that holds the key/value store the node's `put`/`get`/`pop` work on. */
export const DEFAULT_ROOM = 'default'

/** Room names that would collide with the endpoints under the base path; `_` starts system feeds. */
const RESERVED_ROOMS = new Set(['api', 'inspector'])

const ROOM_NAME = /^[A-Za-z0-9.~:@!$'()*+,;=-][A-Za-z0-9._~:@!$'()*+,;=-]{0,127}$/

/** Limits with defaults; each guards the node against one kind of oversized input. */
export interface MeshLimits {
  /**
   * Largest frame accepted on a peer link. Default 256 MiB (a cold join sends the whole room in
   * one frame, so it must exceed `maxDocumentBytes`).
   */
  peerMessageBytes?: number
  /** Largest frame accepted from a light peer. Default 16 MiB. */
  lightMessageBytes?: number
  /** Most rooms a node hosts; a peer or light peer that would create more is refused (4429). Default 1000. */
  maxRooms?: number
  /**
   * Largest encoded size a room may reach, through local writes (a `too_large` MeshError,
   * nothing applied) or remote ones (a light peer is closed 4413; a peer link holds that room
   * and keeps the others). At most `peerMessageBytes` less 1 MiB (or half of it, when that is less).
   * Default 192 MiB.
   */
  maxDocumentBytes?: number
  /** Frames per second one light peer may send, bursts of twice that (4429 beyond). Default 500. */
  lightMessagesPerSecond?: number
  /** Frames per second one peer link may send, bursts of twice that (4429 beyond). Default 20000. */
  peerMessagesPerSecond?: number
  /**
   * Most sockets served at once (4429 beyond): peer links, light peers, inspector feeds, and
   * sockets still waiting for the `authenticate` hook. Default 10000.
   */
  maxConnections?: number
  /**
   * Unsent bytes a light-peer socket may hold beyond the largest frame it was sent; a client
   * that reads slower than that is closed with 1013 (`CloseCode.sendBufferFull`) and may
   * reconnect. Read from the socket's `bufferedAmount` (`ws`, browsers; Hono's `raw` socket);
   * sockets without one are not bounded. Default 32 MiB.
   */
  lightSendBufferBytes?: number
  /** The same bound for peer links. Default 256 MiB. */
  peerSendBufferBytes?: number
  /**
   * SyncStep1 answers per minute, per light peer, that carry state the client lacks (each may
   * encode the whole room), in bursts of 4. Beyond it the request waits for the next one, and
   * later requests replace it; requests from an up-to-date client are answered at once.
   * Honest clients ask once per connection. Default 30.
   */
  lightSyncAnswersPerMinute?: number
  /**
   * Bytes a light peer or feed may send while the `authenticate` hook has not answered; they
   * are held, and more closes the socket with 4413. Default 256 KiB.
   */
  preAuthBytes?: number
}

/** Options of {@link MeshNode}. */
export interface MeshNodeOptions {
  /** Human-readable name shown to peers and in the inspector. Default `node-<random>`. */
  name?: string
  /** Unique id of this node instance. Default: a random UUID (a restarted node is a new member). */
  id?: string
  /** The `ws://host:port/mesh` URL other nodes can reach this node at, announced in the handshake. */
  url?: string
  /** What to do when a (re)sync finds diverged histories. Default `merge`. See docs/conflicts.md. */
  onConflict?: ConflictPolicy
  /** Where Mesh logs. Default: nowhere. */
  logger?: Logger
  /** Input limits. */
  limits?: MeshLimits
  /** How many commits the in-memory history keeps. Default 1000. */
  historyLimit?: number
  /** Reconnect backoff of outgoing links. */
  reconnect?: BackoffOptions
  /** Interval of keepalive messages to light peers (the y-websocket client gives up after 30 s of silence). Default 15 s. */
  lightKeepaliveMs?: number
  /** Heartbeat and failure-detection timing. */
  membership?: MembershipOptions
  /**
   * Interval of anti-entropy checks: each link exchanges room snapshots (state vector and
   * delete set) and repairs any gap, so a lost update heals without a reconnect. Default 5000 ms.
   */
  antiEntropyMs?: number
  /** What this node offers, for capability-based routing; changeable with `setCapabilities`. */
  capabilities?: string[]
  /** Small user metadata gossiped with this node's member entry; changeable with `setMeta`. */
  meta?: Record<string, JsonValue>
  /** Most peers this node dials on its own after learning of them through gossip. Default 8. */
  maxPeers?: number
  /**
   * Shared secret of the mesh, checked with a challenge in every peer handshake; a node
   * without it cannot join. A list rotates: the first signs, any verifies.
   */
  secret?: string | readonly string[]
  /**
   * Decides who may connect as a light peer or call the REST API (health excepted): return
   * `true`/`false` or `{ allow, readOnly, rooms }`. No room is created before it allows.
   * @example authenticate: ({ token }) => token === process.env.MESH_TOKEN
   */
  authenticate?: Authenticate
  /**
   * Browser origins allowed to connect (checked when an `Origin` header is present). Default:
   * any, for light peers and REST; the peer endpoint refuses every browser origin not listed.
   */
  allowedOrigins?: readonly string[]
  /** Ways to find peers beyond `join`: `dnsDiscovery`, `multicastDiscovery` (see docs/membership.md). */
  discovery?: Discovery[]
  /** Light peers (browser tabs, y-websocket clients). */
  lightPeers?: {
    /** Refuse their writes: `true` for all, or decide per connection. Default: they may write. */
    readOnly?: boolean | ((info: { room: string; request: unknown }) => boolean)
  }
}

/** Emitted after every change to a room's key/value store, local or remote. */
export interface ChangeEvent {
  room: string
  keys: string[]
  /** Per key, the value before and after (undefined: absent). */
  changes: KeyChange[]
  /** True when this node made the change through its own store API. */
  local: boolean
  /** Node id (or `light:<n>`) that authored the change. */
  origin: string
}

/** Emitted when a (re)sync found diverged histories and the policy reports it (`warn`, `exception`). */
export interface ConflictEvent {
  policy: 'warn' | 'exception'
  error: MeshConflictError
}

/** A connected peer, as events report it. */
export interface PeerEvent {
  id: string
  name: string
  url: string
  /** On `peer:down`: true when the peer said it was leaving. */
  graceful?: boolean
}

/** A member changed state; `previous` is undefined on first sighting. */
export interface MemberEvent {
  member: Member
  previous: MemberState | undefined
}

/** Events of {@link MeshNode}. */
export interface MeshEvents {
  change: ChangeEvent
  merge: MergeReport
  conflict: ConflictEvent
  'peer:up': PeerEvent
  'peer:down': PeerEvent
  /** A node member was seen for the first time, or came back after being suspect or dead. */
  'member:join': MemberEvent
  /** A node member has been silent past `suspectAfterMs`. */
  'member:suspect': MemberEvent
  /** A node member announced a graceful leave. */
  'member:leave': MemberEvent
  /** A node member has been silent past `deadAfterMs`; its ephemeral keys are removed. */
  'member:dead': MemberEvent
  /** A Yjs update was applied (local or remote): the commit history grew. */
  commit: Commit
}

const svToJson = (doc: Y.Doc): Record<string, number> =>
  Object.fromEntries([...Y.decodeStateVector(Y.encodeStateVector(doc))].map(([c, k]) => [String(c), k]))

/**
 * How long an empty room with no light peer, or a departed client's awareness clock, is kept,
 * in units of `deadAfterMs` (one minute by default).
 */
const IDLE_DEAD_AFTERS = 12

/** Most Yjs client ids kept with the node id they belong to (for commit authors). */
const MAX_CLIENT_NAMES = 10_000

const randomUint32 = (): number => globalThis.crypto.getRandomValues(new Uint32Array(1))[0] ?? 1

/**
 * One Mesh node: a replica of every room, peer links to other nodes, light peers, and a
 * key/value store on room `default`.
 *
 * @example
 * const node = new MeshNode({ name: 'api-1' })
 * await node.join(['ws://10.0.0.2:3000/mesh'])
 * await node.put('feature:dark-mode', true)
 */
export class MeshNode {
  readonly id: string
  readonly name: string
  #url: string
  readonly onConflict: ConflictPolicy
  readonly logger: Logger
  /** Yjs client id this node writes with, in every room. */
  readonly clientId = randomUint32()
  readonly startedAt = Date.now()
  #limits: Required<MeshLimits>
  #emitter: Emitter<MeshEvents>
  #rooms = new Map<string, Room>()
  #stores = new Map<string, MeshStore>()
  #links = new Map<string, PeerLink>()
  #pendingLinks = new Set<PeerLink>()
  #dialers = new Map<string, PeerDialer>()
  #lights = new Set<LightPeer>()
  /** Sockets waiting for the authenticate hook, and inspector feeds: they count as connections too. */
  #waiting = new Set<Connection>()
  #lightSeq = 0
  #membership: Membership
  #maxPeers: number
  #gossipDialers = new Set<string>()
  /** URLs dialed because a discovery found them: dropped once their node is gone. */
  #discovered = new Set<string>()
  #lightReadOnly: NonNullable<MeshNodeOptions['lightPeers']>['readOnly']
  #discovery: Discovery[]
  #secrets: readonly string[]
  #metrics = new Metrics()
  #authenticate: Authenticate | undefined
  #allowedOrigins: readonly string[] | undefined
  #clients = new Map<number, string>()
  #conflicts = new Map<string, MeshConflictError>()
  #resolutions = new Map<string, Resolution>()
  #waiters = new Set<() => void>()
  #progress = new Set<() => void>()
  #cut = new Set<string>()
  /** Owners of ephemeral keys not (yet) in the member table, by when this node first saw them. */
  #unknownOwners = new Map<string, number>()
  /** Rooms whose store the application asked for. */
  #held = new Set<string>()
  #log: CommitLog
  #local = { kind: 'local' }
  #backoff: BackoffOptions | undefined
  #keepaliveMs: number
  #keepalive: ReturnType<typeof setInterval> | undefined
  #antiEntropy: ReturnType<typeof setInterval>
  #closed = false

  constructor(options: MeshNodeOptions = {}) {
    const policy = options.onConflict ?? 'merge'
    if (!CONFLICT_POLICIES.includes(policy)) {
      throw new MeshError('bad_option', `onConflict must be one of ${CONFLICT_POLICIES.join(', ')}; got "${policy}"`)
    }
    this.id = options.id ?? globalThis.crypto.randomUUID()
    this.name = options.name ?? `node-${this.id.slice(0, 6)}`
    if (this.name.length === 0 || this.name.length > 256) {
      throw new MeshError('bad_option', 'name must be 1 to 256 characters')
    }
    this.#url = options.url ?? ''
    this.onConflict = policy
    this.logger = options.logger ?? silentLogger
    this.#limits = {
      peerMessageBytes: options.limits?.peerMessageBytes ?? 256 * 1024 * 1024,
      lightMessageBytes: options.limits?.lightMessageBytes ?? 16 * 1024 * 1024,
      maxRooms: options.limits?.maxRooms ?? 1000,
      maxDocumentBytes: 0,
      lightMessagesPerSecond: options.limits?.lightMessagesPerSecond ?? 500,
      peerMessagesPerSecond: options.limits?.peerMessagesPerSecond ?? 20_000,
      maxConnections: options.limits?.maxConnections ?? 10_000,
      lightSendBufferBytes: options.limits?.lightSendBufferBytes ?? 32 * 1024 * 1024,
      peerSendBufferBytes: options.limits?.peerSendBufferBytes ?? 256 * 1024 * 1024,
      lightSyncAnswersPerMinute: options.limits?.lightSyncAnswersPerMinute ?? 30,
      preAuthBytes: options.limits?.preAuthBytes ?? 256 * 1024,
    }
    for (const name of [
      'lightSendBufferBytes',
      'peerSendBufferBytes',
      'lightSyncAnswersPerMinute',
      'preAuthBytes',
    ] as const) {
      const value = this.#limits[name]
      if (typeof value !== 'number' || !(value > 0)) {
        throw new MeshError(
          'bad_option',
          `limits.${name} must be a positive number (Infinity for no limit); got ${String(value)}`,
        )
      }
    }
    // A room larger than one peer frame could never be sent whole to a joining node.
    const frameRoom = this.#limits.peerMessageBytes - Math.min(1024 * 1024, this.#limits.peerMessageBytes / 2)
    this.#limits.maxDocumentBytes = options.limits?.maxDocumentBytes ?? Math.min(192 * 1024 * 1024, frameRoom)
    if (this.#limits.maxDocumentBytes > frameRoom) {
      throw new MeshError(
        'bad_option',
        `limits.maxDocumentBytes (${this.#limits.maxDocumentBytes}) must leave room in one peer frame: at most ${frameRoom} with limits.peerMessageBytes ${this.#limits.peerMessageBytes}`,
      )
    }
    this.#log = new CommitLog(options.historyLimit ?? 1000)
    this.#backoff = options.reconnect
    this.#keepaliveMs = options.lightKeepaliveMs ?? 15_000
    this.#emitter = new Emitter((error, event) =>
      this.logger.error('event listener failed', { event: String(event), error: String(error) }),
    )
    this.#secrets = typeof options.secret === 'string' ? [options.secret] : [...(options.secret ?? [])]
    if (this.#secrets.some((s) => typeof s !== 'string' || s.length < 8)) {
      throw new MeshError('bad_option', 'secret must be a string of at least 8 characters (or a list of them)')
    }
    this.#authenticate = options.authenticate
    this.#allowedOrigins = options.allowedOrigins
    this.#maxPeers = options.maxPeers ?? 8
    this.#lightReadOnly = options.lightPeers?.readOnly
    this.#clients.set(this.clientId, this.id)
    this.#membership = new Membership(
      {
        id: this.id,
        name: this.name,
        url: this.url,
        capabilities: options.capabilities ?? [],
        meta: options.meta ?? {},
        startedAt: this.startedAt,
      },
      {
        broadcast: (records) => this.#guard('gossip', () => this.#broadcastGossip(records)),
        changed: (member, previous) => this.#guard('membership', () => this.#memberChanged(member, previous)),
        tick: (now) => this.#guard('heartbeat', () => this.#tick(now)),
        random: Math.random,
      },
      options.membership,
    )
    this.room(DEFAULT_ROOM)
    this.#membership.start()
    this.#discovery = options.discovery ?? []
    const context = {
      id: this.id,
      url: () => this.#url,
      join: (urls: string[]) => {
        if (this.#closed) return
        for (const url of urls) if (!this.#dialers.has(url)) this.#discovered.add(url)
        this.join(urls, { wait: false }).catch(() => {})
      },
      logger: this.logger,
    }
    for (const discovery of this.#discovery) discovery.start(context)
    this.#antiEntropy = setInterval(
      () => this.#guard('anti-entropy', () => this.#checkRooms()),
      options.antiEntropyMs ?? 5000,
    )
    this.#antiEntropy.unref?.()
  }

  /** Runs `work` from a timer or handler: an error is logged and counted, never thrown out of the node. */
  #guard(where: string, work: () => void): void {
    try {
      work()
    } catch (error) {
      this.#metrics.failed(where)
      this.logger.error('internal error caught', { where, error: String((error as Error)?.stack ?? error) })
    }
  }

  /** One anti-entropy round: a snapshot per room, sent on every link where the room is live. */
  #checkRooms(): void {
    if (this.#closed || this.#links.size === 0) return
    for (const room of this.#rooms.values()) {
      const snapshot = room.takeCheckpoint()
      for (const link of this.#links.values()) link.sendCheck(room.name, snapshot)
    }
  }

  // ---------------------------------------------------------------- store API (room default)

  /** The key/value store of room `default`. */
  get data(): MeshStore {
    return this.store(DEFAULT_ROOM)
  }

  /** The key/value store of a room (created if needed). */
  store(room: string = DEFAULT_ROOM): MeshStore {
    // The application holds this store: its room is never unloaded under it.
    this.#held.add(room)
    return this.#storeOf(room)
  }

  #storeOf(room: string): MeshStore {
    let store = this.#stores.get(room)
    if (!store) {
      store = new MeshStore({
        room: this.room(room),
        origin: this.#local,
        owner: this.id,
        reasserting: (keys) => {
          // Say we are alive before the keys arrive, so a sweeper that judged us dead stops.
          this.#membership.announce()
          this.logger.info('writing back ephemeral keys another node removed', { room, keys: keys.length })
        },
      })
      this.#stores.set(room, store)
    }
    return store
  }

  /**
   * Writes one key, or many keys in one commit, in room `default`, and resolves once the
   * write is applied on this node. `{ ephemeral: true }` ties the keys to this node's
   * membership; `{ ttl }` makes them expire; `{ replicas: k }` resolves only once k directly
   * linked peers hold the write (see {@link flush}).
   */
  put(key: string, value: unknown, options?: PutOptions): Promise<void>
  put(entries: Record<string, unknown>, options?: PutOptions): Promise<void>
  async put(keyOrEntries: string | Record<string, unknown>, value?: unknown, options?: PutOptions): Promise<void> {
    const opts = typeof keyOrEntries === 'string' ? options : (value as PutOptions | undefined)
    await (typeof keyOrEntries === 'string'
      ? this.data.put(keyOrEntries, value, options)
      : this.data.put(keyOrEntries, opts))
    if (opts?.replicas !== undefined) await this.flush({ replicas: opts.replicas, timeoutMs: opts.timeoutMs })
  }

  /**
   * Waits until at least `replicas` directly linked peers hold every write this node has
   * applied so far in `room` (default `default`), judged by the state vectors and delete sets
   * they report back. Rejects with a `timeout` MeshError naming how many did, so a caller
   * can tell an acknowledged write from one that only this node holds.
   *
   * @example
   * await node.put('config:limit', 100)
   * await node.flush({ replicas: 2, timeoutMs: 2000 })
   */
  async flush(options: { replicas?: number; room?: string; timeoutMs?: number } = {}): Promise<void> {
    this.#assertOpen()
    const replicas = options.replicas ?? 1
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new MeshError('bad_request', 'replicas must be a whole number of peers, 0 or more')
    }
    const name = options.room ?? DEFAULT_ROOM
    const room = this.#rooms.get(name)
    if (!room) throw new MeshError('not_found', `no room "${name}"`)
    this.#storeOf(name).flush()
    room.flush()
    if (replicas === 0) return
    const target = Y.snapshot(room.doc)
    const encoded = Y.encodeSnapshot(target)
    const asked = new WeakSet<PeerLink>()
    const holding = () => {
      let n = 0
      for (const link of this.#links.values()) {
        // A link whose room is still (re)syncing is asked as soon as it goes live.
        if (!asked.has(link) && link.sendCheck(name, encoded, true)) asked.add(link)
        if (link.holds(name, target)) n++
      }
      return n
    }
    await this.#waitFor(
      () => holding() >= replicas,
      options.timeoutMs ?? 5000,
      () => `only ${holding()} of ${replicas} peers acknowledged the writes of room "${name}"`,
    )
  }

  /** The value of `key` in room `default`. */
  get<T extends JsonValue = JsonValue>(key: string): T | undefined {
    return this.data.get<T>(key)
  }

  /** True when room `default` holds `key`. */
  has(key: string): boolean {
    return this.data.has(key)
  }

  /** Removes `key` everywhere; resolves with the value it held. */
  pop(key: string): Promise<JsonValue | undefined> {
    return this.data.pop(key)
  }

  // ---------------------------------------------------------------- events

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): () => void {
    return this.#emitter.on(event, listener)
  }

  /** Subscribes to the next emission of an event. */
  once<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): () => void {
    return this.#emitter.once(event, listener)
  }

  /** Unsubscribes. */
  off<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): void {
    this.#emitter.off(event, listener)
  }

  // ---------------------------------------------------------------- rooms

  /** Returns a room, creating it and announcing it to every peer if needed. */
  room(name: string): Room {
    const existing = this.#rooms.get(name)
    if (existing) return existing
    this.#assertOpen()
    if (!ROOM_NAME.test(name) || RESERVED_ROOMS.has(name)) {
      throw new MeshError('bad_request', `"${name.slice(0, 40)}" is not a valid room name`)
    }
    if (this.#rooms.size >= this.#limits.maxRooms) {
      throw new MeshError('too_large', `room limit of ${this.#limits.maxRooms} reached`)
    }
    const room = new Room({
      name,
      clientId: this.clientId,
      log: this.#log,
      hooks: this.#roomHooks,
      maxBytes: this.#limits.maxDocumentBytes,
    })
    this.#rooms.set(name, room)
    // Every room gets its store at once: it must see the first sync (ownership of its keys).
    this.#storeOf(name)
    for (const link of this.#links.values()) link.startRoom(room)
    return room
  }

  /** Names of the rooms this node hosts. */
  rooms(): string[] {
    return [...this.#rooms.keys()]
  }

  // ---------------------------------------------------------------- sockets (the adapter seam)

  /**
   * Takes over an accepted WebSocket. Without `room` it is a peer link from another node
   * (`/mesh`); with `room` it is a light peer (`/mesh/:room`, y-websocket compatible).
   * Feed frames to `receive` and call `close` when the socket closes.
   */
  accept(socket: MeshSocket, options: { room?: string; request?: unknown; readOnly?: boolean } = {}): Connection {
    if (this.#closed) {
      socket.close(CloseCode.goingAway, 'node is shutting down')
      return { receive: () => {}, close: () => {} }
    }
    // Nodes send no Origin; a browser page must not become a peer unless explicitly allowed.
    const origin = options.room === undefined ? describeRequest(options.request).header('origin') : undefined
    if (origin !== undefined && !this.#allowedOrigins?.includes(origin)) {
      this.#metrics.closed(CloseCode.forbidden)
      this.logger.warn('peer refused: browser origin', { origin: origin.slice(0, 80) })
      socket.close(CloseCode.forbidden, 'browser origins may not open peer links')
      return { receive: () => {}, close: () => {} }
    }
    const open = this.#links.size + this.#pendingLinks.size + this.#lights.size + this.#waiting.size
    if (open >= this.#limits.maxConnections) {
      this.#metrics.closed(CloseCode.rateLimited)
      socket.close(CloseCode.rateLimited, 'too many connections')
      return { receive: () => {}, close: () => {} }
    }
    if (options.room === undefined) {
      const link = new PeerLink({ host: this.#linkHost, socket, role: 'acceptor' })
      this.#pendingLinks.add(link)
      return link
    }
    const roomName = options.room
    const feed = roomName === INSPECT_ROOM
    const openFeed = (): Connection => {
      const inspector = new InspectorFeed(this, socket, (listener) => {
        this.#progress.add(listener)
        return () => this.#progress.delete(listener)
      })
      this.#waiting.add(inspector)
      return {
        receive: () => inspector.receive(),
        close: () => {
          this.#waiting.delete(inspector)
          inspector.close()
        },
      }
    }
    const openLight = (authReadOnly: boolean): Connection => {
      let room: Room
      try {
        room = this.room(roomName)
      } catch (error) {
        const code =
          error instanceof MeshError && error.code === 'too_large' ? CloseCode.rateLimited : CloseCode.badMessage
        socket.close(code, (error as Error).message.slice(0, 120))
        return { receive: () => {}, close: () => {} }
      }
      const policy = this.#lightReadOnly
      const readOnly =
        authReadOnly ||
        (options.readOnly ??
          (typeof policy === 'function' ? policy({ room: room.name, request: options.request }) : (policy ?? false)))
      const light = new LightPeer({ id: String(++this.#lightSeq), host: this.#lightHost, socket, room, readOnly })
      this.#lights.add(light)
      this.#startKeepalive()
      return light
    }
    const openConnection = feed ? openFeed : openLight
    if (!this.#authenticate && !this.#allowedOrigins) return openConnection(false)
    const { url, header } = describeRequest(options.request)
    const pending: Connection = new PendingConnection({
      socket,
      decision: this.authorize({
        kind: feed ? 'inspect' : 'light',
        room: feed ? undefined : roomName,
        url,
        header,
        request: options.request,
      }),
      open: openConnection,
      logger: this.logger,
      metrics: this.#metrics,
      maxBytes: this.#limits.preAuthBytes,
      settled: () => this.#waiting.delete(pending),
    })
    this.#waiting.add(pending)
    return pending
  }

  /**
   * Applies the origin allow-list and the `authenticate` hook to a light peer or REST call.
   * Adapters need not call it: `accept` and the REST handler do.
   */
  async authorize(input: {
    kind: AuthRequest['kind']
    room?: string
    url: URL
    header: (name: string) => string | undefined
    request?: unknown
  }): Promise<AuthDecision> {
    const origin = input.header('origin')
    if (origin !== undefined && this.#allowedOrigins && !this.#allowedOrigins.includes(origin)) {
      return {
        allow: false,
        status: 403,
        code: CloseCode.forbidden,
        reason: `origin ${origin.slice(0, 80)} is not allowed`,
      }
    }
    if (!this.#authenticate) return { allow: true, readOnly: false }
    const result = await this.#authenticate({
      kind: input.kind,
      room: input.room,
      url: input.url,
      header: input.header,
      token: findToken(input.url, input.header),
      request: input.request,
    })
    return decide(result, input.room)
  }

  /** Starts a peer link over a socket this side opened (dialer role). `join` does this for URLs. */
  connect(socket: MeshSocket): Connection {
    this.#assertOpen()
    const link = new PeerLink({ host: this.#linkHost, socket, role: 'dialer' })
    this.#pendingLinks.add(link)
    return link
  }

  // ---------------------------------------------------------------- joining and syncing

  /**
   * Connects to peers at `ws://host:port/mesh` URLs and keeps those links up (reconnecting
   * with backoff). Resolves once every URL completed a handshake; rejects with a `timeout`
   * MeshError naming the unreachable URLs, while retrying in the background. With
   * `wait: false` it resolves as soon as the dialers are started.
   */
  async join(urls: readonly string[], options: { timeoutMs?: number; wait?: boolean } = {}): Promise<void> {
    this.#assertOpen()
    const targets = urls.map((raw) => {
      let url: URL
      try {
        url = new URL(raw)
      } catch {
        throw new MeshError('bad_request', `"${raw}" is not a URL; expected ws://host:port/mesh`)
      }
      if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
        throw new MeshError('bad_request', `"${raw}" must start with ws:// or wss://`)
      }
      return url.toString()
    })
    for (const url of targets) {
      if (!this.#dialers.has(url)) {
        this.#dialers.set(url, new PeerDialer({ url, host: this.#dialerHost, backoff: this.#backoff }))
      }
    }
    if (options.wait === false) return
    const reached = (url: string) => {
      const d = this.#dialers.get(url)
      return d !== undefined && (d.link !== undefined || d.state === 'dormant' || d.state === 'self')
    }
    await this.#waitFor(
      () => targets.every(reached),
      options.timeoutMs ?? 10_000,
      () => `could not reach ${targets.filter((u) => !reached(u)).join(', ')}`,
    )
  }

  /**
   * Waits until every peer this node dials is connected and every link finished its initial
   * sync. Rejects with the pending {@link MeshConflictError} if a room is quarantined by
   * `onConflict: 'exception'`, and with a `timeout` MeshError if peers stay unreachable.
   */
  async syncUp(options: { timeoutMs?: number } = {}): Promise<void> {
    const done = () => {
      if (this.#conflicts.size > 0) return true
      for (const d of this.#dialers.values()) {
        // A seed whose node left or died is still redialed, but nobody waits for it.
        const state = d.peerId === undefined ? undefined : this.#membership.stateOf(d.peerId)
        if (state === 'dead' || state === 'left') continue
        if (d.state === 'connecting' || d.state === 'waiting' || (d.state === 'open' && !d.link)) return false
      }
      for (const link of this.#links.values()) if (!link.settled) return false
      for (const link of this.#pendingLinks) if (link.state === 'handshake' || link.state === 'proving') return false
      return true
    }
    await this.#waitFor(done, options.timeoutMs ?? 10_000, () => 'peers did not finish syncing')
    const conflict = this.#conflicts.values().next().value
    if (conflict) throw conflict
  }

  /** Conflicts waiting for {@link resolveConflict} (`onConflict: 'exception'`). */
  conflicts(): MeshConflictError[] {
    return [...this.#conflicts.values()]
  }

  /**
   * Releases a room quarantined by `onConflict: 'exception'`: `merge` merges both histories,
   * `accept` adopts the peer's state. Applies now if the link is up, else on reconnect.
   */
  resolveConflict(options: { peer: string; room?: string; strategy: 'merge' | 'accept' }): void {
    const room = options.room ?? DEFAULT_ROOM
    if (options.strategy !== 'merge' && options.strategy !== 'accept') {
      throw new MeshError('bad_request', 'strategy must be "merge" or "accept"')
    }
    if (!this.#conflicts.has(`${options.peer}\u0000${room}`)) {
      throw new MeshError('not_found', `no pending conflict with peer ${options.peer} in room "${room}"`)
    }
    this.#clearConflict(options.peer, room, options.strategy)
  }

  #quarantined(room: string): boolean {
    for (const conflict of this.#conflicts.values()) if (conflict.room === room) return true
    return false
  }

  /**
   * Clears a conflict and resyncs: the peer's link with the strategy (the resolution binds the
   * peer too, and clears its side of the conflict), and, once no conflict quarantines the room
   * any more, every other link.
   */
  #clearConflict(peer: string, room: string, strategy: Resolution): void {
    const key = `${peer}\u0000${room}`
    if (!this.#conflicts.delete(key)) return
    const target = this.#rooms.get(room)
    const link = this.#links.get(peer)
    if (link && target) link.startRoom(target, strategy)
    else this.#resolutions.set(key, strategy)
    if (target && !this.#quarantined(room)) {
      for (const other of this.#links.values()) if (other !== link) other.startRoom(target, strategy)
    }
    this.#notify()
  }

  /**
   * Cuts the link to a peer and refuses it (both directions) until {@link heal}: a partition
   * on demand, for demos and tests. Data written meanwhile diverges and merges on heal by
   * the `onConflict` policy.
   */
  cut(peer: string): void {
    if (peer === this.id) throw new MeshError('bad_request', 'a node cannot cut its link to itself')
    this.#cut.add(peer)
    this.#links.get(peer)?.fail(CloseCode.forbidden, 'link cut')
    this.#notify()
  }

  /** Lifts a {@link cut}; the link comes back at once when the peer's URL is known. */
  heal(peer: string): void {
    if (!this.#cut.delete(peer)) return
    for (const d of this.#dialers.values()) if (d.peerId === peer) d.wake(true)
    const member = this.#membership.list().find((m) => m.id === peer)
    if (member?.url && !this.#dialers.has(member.url) && !this.#links.has(peer)) {
      this.#dialers.set(member.url, new PeerDialer({ url: member.url, host: this.#dialerHost, backoff: this.#backoff }))
      this.#gossipDialers.add(member.url)
    }
    this.#notify()
  }

  /** Peers whose links are cut. */
  cuts(): string[] {
    return [...this.#cut]
  }

  // ---------------------------------------------------------------- introspection

  /**
   * Every member this node knows, itself first: nodes (from gossip and heartbeats) and light
   * peers (from awareness, relayed by every node, so each node lists every tab).
   */
  members(): Member[] {
    const lights: Member[] = []
    for (const room of this.#rooms.values()) {
      const meta = room.awareness.meta
      for (const [clientId, state] of room.awareness.getStates()) {
        const s = state as { name?: unknown; user?: { name?: unknown } }
        const id = `light:${clientId}`
        const name = typeof s.name === 'string' ? s.name : typeof s.user?.name === 'string' ? s.user.name : id
        lights.push({
          id,
          name,
          url: '',
          role: 'light',
          capabilities: [],
          state: 'alive',
          startedAt: 0,
          lastSeen: meta.get(clientId)?.lastUpdated ?? Date.now(),
          meta: { ...(state as Record<string, JsonValue>), room: room.name },
        })
      }
    }
    return [...this.#membership.list(), ...lights]
  }

  /** Replaces this node's capabilities and gossips them at once. */
  setCapabilities(capabilities: string[]): void {
    if (!Array.isArray(capabilities) || !capabilities.every((c) => typeof c === 'string')) {
      throw new MeshError('bad_request', 'capabilities must be an array of strings')
    }
    this.#membership.update({ capabilities: [...capabilities] })
  }

  /** Replaces this node's member metadata (JSON) and gossips it at once. */
  setMeta(meta: Record<string, JsonValue>): void {
    this.#membership.update({ meta: toJsonValue(meta, 'meta') as Record<string, JsonValue> })
  }

  /** Counters and gauges for monitoring; `GET /mesh/api/metrics` renders them for Prometheus. */
  metrics(): Metric[] {
    const m = this.#metrics
    const counter = (name: string, help: string, value: number): Metric => ({
      name,
      help,
      type: 'counter',
      values: [{ value }],
    })
    const gauge = (name: string, help: string, value: number): Metric => ({
      name,
      help,
      type: 'gauge',
      values: [{ value }],
    })
    const states = new Map<string, number>()
    for (const member of this.members()) {
      const key = `${member.role}:${member.state}`
      states.set(key, (states.get(key) ?? 0) + 1)
    }
    let pending = 0
    for (const link of this.#links.values()) {
      for (const state of Object.values(link.roomStates())) if (state.state !== 'synced') pending++
    }
    const memory = process.memoryUsage()
    const now = Date.now()
    return [
      gauge('mesh_peers', 'Open peer links.', this.#links.size),
      gauge('mesh_light_peers', 'Connected light peers (browser tabs, y-websocket clients).', this.#lights.size),
      gauge('mesh_rooms', 'Rooms hosted.', this.#rooms.size),
      {
        name: 'mesh_members',
        help: 'Known members by role and state.',
        type: 'gauge',
        values: [...states].map(([key, value]) => {
          const [role = '', state = ''] = key.split(':')
          return { labels: { role, state }, value }
        }),
      },
      counter('mesh_commits_total', 'Yjs updates applied (local and remote).', this.#log.total),
      counter('mesh_peer_frames_in_total', 'Frames received on peer links.', m.peerFramesIn),
      counter('mesh_peer_frames_out_total', 'Frames sent on peer links.', m.peerFramesOut),
      counter('mesh_peer_bytes_in_total', 'Bytes received on peer links.', m.peerBytesIn),
      counter('mesh_peer_bytes_out_total', 'Bytes sent on peer links.', m.peerBytesOut),
      counter('mesh_light_frames_in_total', 'Frames received from light peers.', m.lightFramesIn),
      counter('mesh_light_frames_out_total', 'Frames sent to light peers.', m.lightFramesOut),
      counter('mesh_light_bytes_in_total', 'Bytes received from light peers.', m.lightBytesIn),
      counter('mesh_light_bytes_out_total', 'Bytes sent to light peers.', m.lightBytesOut),
      {
        name: 'mesh_rejected_total',
        help: 'Sockets closed for bad input or limits, by reason.',
        type: 'counter',
        values: [...m.rejected].map(([reason, value]) => ({ labels: { reason }, value })),
      },
      gauge('mesh_sync_pending_rooms', 'Rooms on open links whose (re)sync has not finished.', pending),
      {
        name: 'mesh_peer_silence_seconds',
        help: 'Seconds since the last frame from each peer (sync lag when it grows).',
        type: 'gauge',
        values: [...this.#links.values()].map((link) => ({
          labels: { peer: link.remote?.name ?? link.peerId ?? '' },
          value: (now - link.lastReceivedAt) / 1000,
        })),
      },
      gauge(
        'mesh_rooms_pending_structs',
        'Rooms holding updates that wait for something they depend on (a gap anti-entropy repairs).',
        [...this.#rooms.values()].filter((room) => room.pending).length,
      ),
      counter('mesh_anti_entropy_repairs_sent_total', 'Repairs sent to peers that lacked updates.', m.repairsSent),
      counter('mesh_anti_entropy_repairs_received_total', 'Repairs received from peers.', m.repairsReceived),
      {
        name: 'mesh_internal_errors_total',
        help: 'Errors caught in timers and handlers (each logged), by where.',
        type: 'counter',
        values: [...m.failures].map(([where, value]) => ({ labels: { where }, value })),
      },
      gauge('mesh_conflicts_pending', 'Rooms quarantined by onConflict "exception".', this.#conflicts.size),
      gauge('mesh_heap_used_bytes', 'V8 heap in use.', memory.heapUsed),
      gauge('mesh_rss_bytes', 'Resident set size.', memory.rss),
      gauge('mesh_uptime_seconds', 'Seconds since the node started.', (now - this.startedAt) / 1000),
    ]
  }

  /** The recent commits (applied Yjs updates), oldest first. */
  history(filter: { room?: string; origin?: string; key?: string; limit?: number } = {}): Commit[] {
    this.#flushStores()
    return this.#log.list(filter)
  }

  /** This node's state: state vectors, peers, links and their history relation. */
  status(): NodeStatus {
    this.#flushStores()
    const peers: PeerStatus[] = []
    const seen = new Set<PeerLink>()
    for (const d of this.#dialers.values()) {
      const link = d.link
      if (link) seen.add(link)
      const remote = link?.remote
      peers.push({
        id: remote?.nodeId ?? d.peerId ?? null,
        name: remote?.name ?? null,
        url: d.url,
        direction: 'outgoing',
        // A dialer whose socket is open but whose handshake is not done is not linked yet.
        link: link ? 'open' : d.state === 'open' ? 'handshake' : d.state,
        relation: link?.roomStates()[DEFAULT_ROOM]?.relation ?? null,
        rooms: link?.roomStates() ?? {},
        ...(d.lastError && !link ? { error: d.lastError } : {}),
      })
    }
    for (const link of this.#links.values()) {
      if (seen.has(link)) continue
      const states = link.roomStates()
      peers.push({
        id: link.peerId ?? null,
        name: link.remote?.name ?? null,
        url: link.remote?.url ?? '',
        direction: link.role === 'dialer' ? 'outgoing' : 'incoming',
        link: link.state,
        relation: states[DEFAULT_ROOM]?.relation ?? null,
        rooms: states,
      })
    }
    const rooms: NodeStatus['rooms'] = {}
    for (const [name, room] of this.#rooms) {
      rooms[name] = {
        stateVector: svToJson(room.doc),
        keys: room.kv.size,
        lightPeers: room.lightCount,
        pending: room.pending,
      }
    }
    return {
      id: this.id,
      name: this.name,
      url: this.url,
      onConflict: this.onConflict,
      stateVector: rooms[DEFAULT_ROOM]?.stateVector ?? {},
      rooms,
      peers,
      lightPeers: this.#lights.size,
      conflicts: this.conflicts().map((c) => ({ peer: c.peer, room: c.room, keys: c.keys.map((k) => k.key) })),
      commits: this.#log.total,
    }
  }

  /** Advertised peer URL (`ws://host:port/mesh`); adapters or the CLI set it once the server listens. */
  get url(): string {
    return this.#url
  }

  set url(url: string) {
    this.#url = url
    this.#membership.update({ url })
  }

  /** The input limits in force. */
  get limits(): Readonly<Required<MeshLimits>> {
    return this.#limits
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * Leaves the mesh gracefully: tells every peer it is leaving, closes every socket, stops
   * reconnecting and frees every room. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#flushStores()
    // Our ephemeral keys go first, while the links can still carry their removal.
    for (const name of this.#rooms.keys()) this.#storeOf(name).sweep(Date.now(), (owner) => owner === this.id)
    this.#closed = true
    for (const discovery of this.#discovery) discovery.stop()
    clearInterval(this.#keepalive)
    clearInterval(this.#antiEntropy)
    for (const room of this.#rooms.values()) room.flush()
    this.#membership.leave()
    for (const link of [...this.#links.values(), ...this.#pendingLinks]) link.leave('node is leaving')
    // Only after the goodbye: stopping a dialer closes its socket, and a closing socket drops sends.
    for (const d of this.#dialers.values()) d.stop()
    for (const light of [...this.#lights]) light.fail(CloseCode.goingAway, 'node is shutting down')
    for (const room of this.#rooms.values()) room.destroy()
    this.#notify()
    this.#emitter.clear()
  }

  // ---------------------------------------------------------------- internals

  /** Applies the puts each store queued in this turn (see MeshStore.put). */
  #flushStores(): void {
    for (const store of this.#stores.values()) store.flush()
  }

  #assertOpen(): void {
    if (this.#closed) throw new MeshError('closed', 'node is closed')
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter()
    for (const listener of this.#progress) listener()
  }

  #waitFor(done: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    if (done()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done() && !this.#closed) return
        finish()
        if (this.#closed) reject(new MeshError('closed', 'node closed while waiting'))
        else resolve()
      }
      const timer = setTimeout(() => {
        finish()
        reject(new MeshError('timeout', `${describe()} within ${timeoutMs} ms`))
      }, timeoutMs)
      const finish = () => {
        clearTimeout(timer)
        this.#waiters.delete(check)
      }
      this.#waiters.add(check)
    })
  }

  #startKeepalive(): void {
    if (this.#keepalive) return
    this.#keepalive = setInterval(() => {
      for (const light of this.#lights) light.sendFrame(lightKeepalive)
    }, this.#keepaliveMs)
    this.#keepalive.unref?.()
  }

  #authors(transaction: Y.Transaction): string | undefined {
    const authors: string[] = []
    for (const [client, clock] of transaction.afterState) {
      if (clock > (transaction.beforeState.get(client) ?? 0)) {
        authors.push(this.#clients.get(client) ?? `client:${client}`)
      }
    }
    return authors.length > 0 ? authors.join(',') : undefined
  }

  #describe(origin: unknown, transaction: Y.Transaction): { origin: string; via: string } {
    if (origin === this.#local) return { origin: this.id, via: 'local' }
    if (origin instanceof YieldOrigin) return { origin: this.id, via: `accept:${origin.peer ?? 'unknown'}` }
    if (origin instanceof PeerLink) {
      const peer = origin.peerId ?? 'unknown'
      return { origin: this.#authors(transaction) ?? peer, via: `peer:${peer}` }
    }
    if (origin instanceof LightPeer) return { origin: `light:${origin.id}`, via: `light:${origin.id}` }
    return { origin: this.#authors(transaction) ?? 'unknown', via: 'unknown' }
  }

  #roomHooks: RoomHooks = {
    describe: (origin, transaction) => {
      const cached = transaction.meta.get(this) as { origin: string; via: string } | undefined
      if (cached) return cached
      const described = this.#describe(origin, transaction)
      transaction.meta.set(this, described)
      return described
    },
    committed: (commit) => {
      if (this.#emitter.has('commit')) this.#emitter.emit('commit', commit)
    },
    onKeys: (room, changes, origin, transaction) => {
      const keys = changes.map((c) => c.key)
      this.#stores.get(room.name)?.review(keys, origin !== this.#local && !(origin instanceof YieldOrigin))
      if (!this.#emitter.has('change')) return
      this.#emitter.emit('change', {
        room: room.name,
        keys,
        changes,
        local: origin === this.#local || origin instanceof YieldOrigin,
        origin: this.#roomHooks.describe(origin, transaction).origin,
      })
    },
  }

  #linkHost: LinkHost = (() => {
    const node = this
    return {
      get id() {
        return node.id
      },
      get name() {
        return node.name
      },
      get url() {
        return node.url
      },
      get clientId() {
        return node.clientId
      },
      get policy() {
        return node.onConflict
      },
      get logger() {
        return node.logger
      },
      get maxMessageBytes() {
        return node.#limits.peerMessageBytes
      },
      get secrets() {
        return node.#secrets
      },
      get metrics() {
        return node.#metrics
      },
      get messagesPerSecond() {
        return node.#limits.peerMessagesPerSecond
      },
      get sendBufferBytes() {
        return node.#limits.peerSendBufferBytes
      },
      room: (name: string) => node.room(name),
      rooms: () => node.#rooms.values(),
      existingRoom: (name: string) => node.#rooms.get(name),
      linkUp: (link: PeerLink) => node.#linkUp(link),
      linkDown: (link: PeerLink) => node.#linkDown(link),
      quarantined: (room: string) => node.#quarantined(room),
      resolvedByPeer: (peer: string, room: string) => {
        if (!node.#conflicts.has(`${peer}\u0000${room}`)) return
        node.logger.info('conflict resolved by the peer', { peer, room })
        node.#clearConflict(peer, room, 'merge')
      },
      takeResolution: (peer: string, room: string) => {
        const key = `${peer}\u0000${room}`
        const resolution = node.#resolutions.get(key) ?? 'none'
        node.#resolutions.delete(key)
        return resolution
      },
      merged: (report: MergeReport) => node.#merged(report),
      conflict: (error: MeshConflictError) => {
        node.#conflicts.set(`${error.peer}\u0000${error.room}`, error)
        // The whole room is quarantined on this node, on every link, not only the one that
        // diverged: otherwise a third node would relay the diverged writes around it.
        for (const link of node.#links.values()) link.holdRoom(error.room)
        node.logger.warn('diverged history quarantined until resolveConflict()', {
          peer: error.peer,
          room: error.room,
          keys: error.keys.map((k) => k.key),
        })
        node.#emitter.emit('conflict', { policy: 'exception', error })
        node.#notify()
      },
      progress: () => node.#notify(),
      gossip: (json: string) => node.#membership.receive(parseGossip(json), Date.now()),
      leaving: (link: PeerLink) => {
        if (link.peerId) node.#membership.left(link.peerId, Date.now())
      },
    }
  })()

  #dialerHost: DialerHost = (() => {
    const node = this
    return {
      get logger() {
        return node.logger
      },
      get maxMessageBytes() {
        return node.#limits.peerMessageBytes
      },
      connect: (socket: MeshSocket) => node.connect(socket) as PeerLink,
      hasLink: (peerId: string) => node.#links.has(peerId),
      isCut: (peerId: string) => node.#cut.has(peerId),
      random: Math.random,
    }
  })()

  #lightHost: LightHost = (() => {
    const node = this
    return {
      get logger() {
        return node.logger
      },
      get maxMessageBytes() {
        return node.#limits.lightMessageBytes
      },
      get metrics() {
        return node.#metrics
      },
      get messagesPerSecond() {
        return node.#limits.lightMessagesPerSecond
      },
      get sendBufferBytes() {
        return node.#limits.lightSendBufferBytes
      },
      get syncAnswersPerMinute() {
        return node.#limits.lightSyncAnswersPerMinute
      },
      lightDown: (light: LightPeer) => {
        node.#lights.delete(light)
      },
    }
  })()

  #merged(report: MergeReport): void {
    if (report.conflicts.length > 0) {
      const fields = { peer: report.peer, room: report.room, keys: report.conflicts.map((c) => c.key) }
      if (report.policy === 'warn') {
        this.logger.warn('merged diverged history with conflicting keys', fields)
        this.#emitter.emit('conflict', {
          policy: 'warn',
          error: new MeshConflictError({ peer: report.peer, room: report.room, keys: report.conflicts }),
        })
      } else {
        this.logger.info('merged diverged history', fields)
      }
    }
    this.#emitter.emit('merge', report)
  }

  #broadcastGossip(records: MemberRecord[]): void {
    if (this.#links.size === 0) return
    const frame = encodePeer.gossip(JSON.stringify(records))
    for (const link of this.#links.values()) link.sendFrame(frame)
  }

  #memberChanged(member: Member, previous: MemberState | undefined): void {
    const event = { member, previous }
    switch (member.state) {
      case 'alive':
        this.logger.info('member joined', { member: member.id, name: member.name })
        this.#emitter.emit('member:join', event)
        this.#dialMembers()
        return
      case 'suspect':
        this.logger.info('member suspect', { member: member.id, name: member.name })
        this.#emitter.emit('member:suspect', event)
        return
      case 'left':
      case 'dead':
        this.logger.info(member.state === 'left' ? 'member left' : 'member dead', {
          member: member.id,
          name: member.name,
        })
        this.#emitter.emit(member.state === 'left' ? 'member:leave' : 'member:dead', event)
        this.#stopGossipDialer(member.url)
        // A link to a member judged dead is a half-open socket or a paused process: close it, so
        // that a restart (or the same process, once it resumes) links again from scratch.
        if (member.state === 'dead') this.#links.get(member.id)?.fail(CloseCode.goingAway, 'peer declared dead')
        // A discovered address whose node is gone (a replaced pod) is not redialed forever.
        for (const [url, dialer] of this.#dialers) {
          if (dialer.peerId !== member.id || !this.#discovered.delete(url)) continue
          dialer.stop()
          this.#dialers.delete(url)
        }
        // Nobody is left to resolve a conflict with a member that is gone.
        for (const conflict of [...this.#conflicts.values()]) {
          if (conflict.peer !== member.id) continue
          this.logger.info('conflict dropped: the peer is gone', { peer: member.id, room: conflict.room })
          this.#clearConflict(member.id, conflict.room, 'none')
        }
        this.#sweep(Date.now())
        return
    }
  }

  /** Dials members learned through gossip, in random order, until `maxPeers` links exist. */
  #dialMembers(): void {
    if (this.#closed) return
    const candidates = this.#membership
      .list()
      .filter((m) => m.id !== this.id && m.state === 'alive' && m.url !== '' && !this.#links.has(m.id))
      .filter((m) => !this.#dialers.has(m.url))
    let budget = this.#maxPeers - this.#links.size - [...this.#dialers.values()].filter((d) => !d.link).length
    while (budget > 0 && candidates.length > 0) {
      const [member] = candidates.splice(Math.floor(Math.random() * candidates.length), 1)
      if (!member) break
      this.#dialers.set(member.url, new PeerDialer({ url: member.url, host: this.#dialerHost, backoff: this.#backoff }))
      this.#gossipDialers.add(member.url)
      budget--
    }
  }

  #stopGossipDialer(url: string): void {
    if (!this.#gossipDialers.delete(url)) return
    this.#dialers.get(url)?.stop()
    this.#dialers.delete(url)
  }

  #tick(now: number): void {
    this.#dialMembers()
    this.#sweep(now)
    this.#prune(now)
  }

  /**
   * Bounds what would otherwise only grow: awareness clocks of clients gone for a minute,
   * rooms that hold nothing and serve nobody, and the client-id → node-id names of history.
   */
  #prune(now: number): void {
    const idleMs = IDLE_DEAD_AFTERS * this.#membership.deadAfterMs
    for (const [name, room] of this.#rooms) {
      const { awareness } = room
      for (const [clientId, meta] of awareness.meta) {
        if (!awareness.states.has(clientId) && now - meta.lastUpdated > idleMs) awareness.meta.delete(clientId)
      }
      if (name === DEFAULT_ROOM || this.#held.has(name) || room.lightCount > 0 || room.doc.store.clients.size > 0) {
        continue
      }
      if (now - room.lastActive < idleMs) continue
      this.#rooms.delete(name)
      this.#stores.delete(name)
      for (const link of this.#links.values()) link.dropRoom(name)
      room.destroy()
      this.logger.debug('unloaded an empty idle room', { room: name })
    }
    while (this.#clients.size > MAX_CLIENT_NAMES) {
      const oldest = this.#clients.keys().next().value
      if (oldest === undefined || oldest === this.clientId) break
      this.#clients.delete(oldest)
    }
  }

  /**
   * One deterministic cleaner, the live node with the lowest id, removes expired keys and
   * the ephemeral keys of members that left or died. Views of who is alive can differ for a
   * moment, so two nodes may both sweep; removals are idempotent, so that is harmless.
   */
  #sweep(now: number): void {
    if (this.#closed) return
    const alive = this.#membership.list().filter((m) => m.state === 'alive')
    const cleaner = alive.reduce((low, m) => (m.id < low ? m.id : low), this.id)
    if (cleaner !== this.id) return
    const graceMs = 2 * this.#membership.deadAfterMs
    const unknown = new Map<string, number>()
    const isGone = (owner: string) => {
      if (owner === this.id) return false
      const state = this.#membership.stateOf(owner)
      if (state !== undefined) return state === 'dead' || state === 'left'
      // An owner never heard of, long after its key first showed up here, died before we
      // joined; a newcomer whose keys arrive before its member record is only unknown briefly.
      const since = this.#unknownOwners.get(owner) ?? now
      unknown.set(owner, since)
      return now - since > graceMs
    }
    for (const name of this.#rooms.keys()) {
      const removed = this.#storeOf(name).sweep(now, isGone)
      if (removed.length > 0) this.logger.debug('swept expired and orphaned keys', { room: name, keys: removed.length })
    }
    this.#unknownOwners = unknown
  }

  #linkUp(link: PeerLink): boolean {
    this.#pendingLinks.delete(link)
    const remote = link.remote
    if (!remote) return false
    if (this.#cut.has(remote.nodeId)) {
      link.fail(CloseCode.forbidden, 'link cut')
      return false
    }
    const existing = this.#links.get(remote.nodeId)
    if (existing && existing !== link) {
      if (existing.remote?.clientId !== remote.clientId) {
        // The peer restarted with the same id (a new process writes with a new client id):
        // the old link is a half-open leftover of its previous life.
        existing.fail(CloseCode.goingAway, 'replaced by the peer restarted with the same id')
      } else {
        // Both sides apply the same rule, so they agree on which duplicate survives.
        const dialerOf = (l: PeerLink) => (l.role === 'dialer' ? this.id : remote.nodeId)
        const keepNew = dialerOf(link) < dialerOf(existing)
        if (!keepNew) return false
        existing.fail(CloseCode.duplicate, 'duplicate link')
      }
    }
    this.#links.set(remote.nodeId, link)
    this.#clients.set(remote.clientId, remote.nodeId)
    this.#membership.linked({ id: remote.nodeId, name: remote.name, url: remote.url }, Date.now())
    link.sendFrame(encodePeer.gossip(JSON.stringify(this.#membership.digest())))
    this.logger.info('peer connected', { peer: remote.nodeId, name: remote.name, direction: link.role })
    this.#emitter.emit('peer:up', { id: remote.nodeId, name: remote.name, url: remote.url })
    this.#notify()
    return true
  }

  #linkDown(link: PeerLink): void {
    this.#pendingLinks.delete(link)
    const remote = link.remote
    if (!remote || this.#links.get(remote.nodeId) !== link) return
    this.#links.delete(remote.nodeId)
    if (this.#closed) this.logger.debug('peer link closed: this node is leaving', { peer: remote.nodeId })
    else this.logger.info('peer disconnected', { peer: remote.nodeId, graceful: link.leaving })
    this.#emitter.emit('peer:down', { id: remote.nodeId, name: remote.name, url: remote.url, graceful: link.leaving })
    if (!this.#closed) {
      for (const d of this.#dialers.values()) if (d.peerId === remote.nodeId) d.wake()
    }
    this.#notify()
  }
}
