import * as Y from 'yjs'
import { CloseCode } from './close-codes.js'
import { CONFLICT_POLICIES, type ConflictPolicy } from './conflict.js'
import { decide, describeRequest, findToken, type AuthDecision, type Authenticate, type AuthRequest } from './auth.js'
import type { Discovery } from './discovery.js'
import { PendingConnection } from './pending-connection.js'
import { Metrics, type Metric } from './metrics.js'
import { Emitter } from './emitter.js'
import { INSPECT_ROOM, InspectorFeed } from './inspector-feed.js'
import { MeshConflictError, MeshError } from './errors.js'
import { CommitLog, type Commit } from './history.js'
import { toJsonValue, type JsonValue } from './json.js'
import { LightPeer, type LightHost } from './light-peer.js'
import { silentLogger, type Logger } from './logger.js'
import { Membership, type Member, type MemberRecord, type MemberState, type MembershipOptions } from './membership.js'
import { PeerDialer, type BackoffOptions, type DialerHost } from './peer-dialer.js'
import { PeerLink, type LinkHost, type LinkRoomState, type MergeReport } from './peer-link.js'
import { encodePeer, lightKeepalive, type Resolution } from './protocol.js'
import { Room, type RoomHooks } from './room.js'
import type { Connection, MeshSocket } from './socket.js'
import { MeshStore, type PutOptions } from './store.js'
import type { HistoryRelation } from './compare.js'

/** The room that holds the key/value store the node's `put`/`get`/`pop` work on. */
export const DEFAULT_ROOM = 'default'

/** Room names that would collide with the endpoints under the base path; `_` starts system feeds. */
const RESERVED_ROOMS = new Set(['api', 'inspector'])

const ROOM_NAME = /^[A-Za-z0-9.~:@!$'()*+,;=-][A-Za-z0-9._~:@!$'()*+,;=-]{0,127}$/

/** Limits with defaults; each guards the node against one kind of oversized input. */
export interface MeshLimits {
  /** Largest frame accepted on a peer link. Default 256 MiB (a cold join sends the whole room in one frame). */
  peerMessageBytes?: number
  /** Largest frame accepted from a light peer. Default 16 MiB. */
  lightMessageBytes?: number
  /** Most rooms a node hosts; a peer or light peer that would create more is refused (4429). Default 1000. */
  maxRooms?: number
  /** Largest encoded size a room may reach through remote updates (4413 beyond). Default 512 MiB. */
  maxDocumentBytes?: number
  /** Frames per second one light peer may send, bursts of twice that (4429 beyond). Default 500. */
  lightMessagesPerSecond?: number
  /** Frames per second one peer link may send, bursts of twice that (4429 beyond). Default 20000. */
  peerMessagesPerSecond?: number
  /** Most sockets (peer links, light peers, feeds) served at once (4429 beyond). Default 10000. */
  maxConnections?: number
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

/** Emitted after every change to a room's `kv` map, local or remote. */
export interface ChangeEvent {
  room: string
  keys: string[]
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

/** One peer in `node.status()`. */
export interface PeerStatus {
  id: string | null
  name: string | null
  url: string
  direction: 'outgoing' | 'incoming'
  link: 'connecting' | 'handshake' | 'proving' | 'open' | 'waiting' | 'dormant' | 'self' | 'stopped' | 'closed'
  /** History relation of room `default` found at the last (re)sync. */
  relation: HistoryRelation | null
  rooms: Record<string, { state: LinkRoomState; relation: HistoryRelation | null }>
  error?: string
}

/** What `node.status()` returns. */
export interface NodeStatus {
  id: string
  name: string
  url: string
  onConflict: ConflictPolicy
  /** State vector of room `default`: Yjs client id → clock. */
  stateVector: Record<string, number>
  rooms: Record<string, { stateVector: Record<string, number>; keys: number; lightPeers: number }>
  peers: PeerStatus[]
  lightPeers: number
  conflicts: Array<{ peer: string; room: string; keys: string[] }>
  commits: number
}

const svToJson = (doc: Y.Doc): Record<string, number> =>
  Object.fromEntries([...Y.decodeStateVector(Y.encodeStateVector(doc))].map(([c, k]) => [String(c), k]))

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
  #lightSeq = 0
  #membership: Membership
  #maxPeers: number
  #gossipDialers = new Set<string>()
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
  #log: CommitLog
  #local = { kind: 'local' }
  #backoff: BackoffOptions | undefined
  #keepaliveMs: number
  #keepalive: ReturnType<typeof setInterval> | undefined
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
      maxDocumentBytes: options.limits?.maxDocumentBytes ?? 512 * 1024 * 1024,
      lightMessagesPerSecond: options.limits?.lightMessagesPerSecond ?? 500,
      peerMessagesPerSecond: options.limits?.peerMessagesPerSecond ?? 20_000,
      maxConnections: options.limits?.maxConnections ?? 10_000,
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
        broadcast: (records) => this.#broadcastGossip(records),
        changed: (member, previous) => this.#memberChanged(member, previous),
        tick: (now) => this.#tick(now),
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
        if (!this.#closed) this.join(urls, { wait: false }).catch(() => {})
      },
      logger: this.logger,
    }
    for (const discovery of this.#discovery) discovery.start(context)
  }

  // ---------------------------------------------------------------- store API (room default)

  /** The key/value store of room `default`. */
  get data(): MeshStore {
    return this.store(DEFAULT_ROOM)
  }

  /** The key/value store of a room (created if needed). */
  store(room: string = DEFAULT_ROOM): MeshStore {
    let store = this.#stores.get(room)
    if (!store) {
      store = new MeshStore(this.room(room), this.#local, this.id)
      this.#stores.set(room, store)
    }
    return store
  }

  /**
   * Writes one key, or many keys in one commit, in room `default`. `{ ephemeral: true }`
   * ties the keys to this node's membership; `{ ttl }` makes them expire.
   */
  put(key: string, value: unknown, options?: PutOptions): Promise<void>
  put(entries: Record<string, unknown>, options?: PutOptions): Promise<void>
  put(keyOrEntries: string | Record<string, unknown>, value?: unknown, options?: PutOptions): Promise<void> {
    return typeof keyOrEntries === 'string'
      ? this.data.put(keyOrEntries, value, options)
      : this.data.put(keyOrEntries, value as PutOptions | undefined)
  }

  /** The value of `key` in room `default`. */
  get(key: string): JsonValue | undefined {
    return this.data.get(key)
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
    if (this.#links.size + this.#pendingLinks.size + this.#lights.size >= this.#limits.maxConnections) {
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
    const openFeed = (): Connection =>
      new InspectorFeed(this, socket, (listener) => {
        this.#progress.add(listener)
        return () => this.#progress.delete(listener)
      })
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
    const open = feed ? openFeed : openLight
    if (!this.#authenticate && !this.#allowedOrigins) return open(false)
    const { url, header } = describeRequest(options.request)
    return new PendingConnection({
      socket,
      decision: this.authorize({
        kind: feed ? 'inspect' : 'light',
        room: feed ? undefined : roomName,
        url,
        header,
        request: options.request,
      }),
      open,
      logger: this.logger,
    })
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
    const key = `${options.peer}\u0000${room}`
    if (!this.#conflicts.delete(key)) {
      throw new MeshError('not_found', `no pending conflict with peer ${options.peer} in room "${room}"`)
    }
    const link = this.#links.get(options.peer)
    const target = this.#rooms.get(room)
    if (link && target) link.startRoom(target, options.strategy)
    else this.#resolutions.set(key, options.strategy)
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
  setMeta(meta: Record<string, unknown>): void {
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
      rooms[name] = { stateVector: svToJson(room.doc), keys: room.kv.size, lightPeers: room.lightCount }
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
    for (const name of this.#rooms.keys()) this.store(name).sweep(Date.now(), (owner) => owner === this.id)
    this.#closed = true
    for (const discovery of this.#discovery) discovery.stop()
    clearInterval(this.#keepalive)
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
    onKeys: (room, keys, origin, transaction) => {
      if (!this.#emitter.has('change')) return
      this.#emitter.emit('change', {
        room: room.name,
        keys,
        local: origin === this.#local,
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
      room: (name: string) => node.room(name),
      rooms: () => node.#rooms.values(),
      existingRoom: (name: string) => node.#rooms.get(name),
      linkUp: (link: PeerLink) => node.#linkUp(link),
      linkDown: (link: PeerLink) => node.#linkDown(link),
      takeResolution: (peer: string, room: string) => {
        const key = `${peer}\u0000${room}`
        const resolution = node.#resolutions.get(key) ?? 'none'
        node.#resolutions.delete(key)
        return resolution
      },
      merged: (report: MergeReport) => node.#merged(report),
      conflict: (error: MeshConflictError) => {
        node.#conflicts.set(`${error.peer}\u0000${error.room}`, error)
        node.logger.warn('diverged history quarantined until resolveConflict()', {
          peer: error.peer,
          room: error.room,
          keys: error.keys.map((k) => k.key),
        })
        node.#emitter.emit('conflict', { policy: 'exception', error })
        node.#notify()
      },
      progress: () => node.#notify(),
      gossip: (records: MemberRecord[]) => node.#membership.receive(records, Date.now()),
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
    const isGone = (owner: string) => {
      if (owner === this.id) return false
      const state = this.#membership.stateOf(owner)
      // An owner never heard of, once gossip had time to reach us, died before we joined.
      return state === 'dead' || state === 'left' || (state === undefined && now - this.startedAt > graceMs)
    }
    for (const name of this.#rooms.keys()) {
      const removed = this.store(name).sweep(now, isGone)
      if (removed.length > 0) this.logger.debug('swept expired and orphaned keys', { room: name, keys: removed.length })
    }
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
      // Both sides apply the same rule, so they agree on which duplicate survives.
      const dialerOf = (l: PeerLink) => (l.role === 'dialer' ? this.id : remote.nodeId)
      const keepNew = dialerOf(link) < dialerOf(existing)
      if (!keepNew) return false
      existing.fail(CloseCode.duplicate, 'duplicate link')
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
    this.logger.info('peer disconnected', { peer: remote.nodeId, graceful: link.leaving })
    this.#emitter.emit('peer:down', { id: remote.nodeId, name: remote.name, url: remote.url, graceful: link.leaving })
    if (!this.#closed) {
      for (const d of this.#dialers.values()) if (d.peerId === remote.nodeId) d.wake()
    }
    this.#notify()
  }
}
