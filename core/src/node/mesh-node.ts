import { silentLogger, toJsonValue } from '../common/index.js'
import type { Connection, JsonValue, Logger, MeshConflictError, MeshSocket } from '../common/index.js'
import { capabilityList, lightMembers, type Member } from '../membership/index.js'
import { nodeMetrics, nodeStatus, type Metric, type NodeStatus } from '../observability/index.js'
import type { Commit, ConflictPolicy, RoomHandle } from '../replication/index.js'
import type { AcceptOptions, AuthDecision, AuthorizeInput } from '../security/index.js'
import type { ActorFactory, CallOptions, PublishReceipt, TopicHandler } from '../routing/index.js'
import { DEFAULT_ROOM, type MeshStore, type PutOptions } from '../store/index.js'
import type { MeshEvents } from './events.js'
import { resolveIdentity, resolveLimits, type MeshLimits, type MeshNodeOptions } from './options.js'
import { NodeParts } from './wiring.js'
import { startParts } from './startup.js'
import { acknowledgedPut } from './acknowledged-put.js'
import { refuseWhileLoading } from '../persistence/index.js'

/**
 * One Mesh node: a replica of every room, peer links to other nodes, light peers, and a
 * key/value store on room `default`. It only wires the parts of the folders beside node/.
 *
 * @example
 * const node = new MeshNode({ name: 'api-1' })
 * await node.join(['ws://10.0.0.2:3000/mesh'])
 * await node.put('feature:dark-mode', true)
 */
export class MeshNode {
  /** Unique id of this node instance (a random UUID unless the `id` option is set). */
  readonly id: string
  /** Human-readable name shown to peers and in the inspector. */
  readonly name: string
  /** What a (re)sync does with diverged histories (docs/conflicts.md). */
  readonly onConflict: ConflictPolicy
  /** Where this node logs. */
  readonly logger: Logger
  /** Yjs client id this node writes with, in every room. */
  readonly clientId: number
  /** When this node started, in milliseconds since the epoch. */
  readonly startedAt = Date.now()
  #url: string
  #p: NodeParts
  #closed = false
  #closing: Promise<void> | undefined
  #ready: Promise<void>

  constructor(options: MeshNodeOptions = {}) {
    const identity = resolveIdentity(options)
    this.id = identity.id
    this.name = identity.name
    this.onConflict = identity.onConflict
    this.clientId = identity.clientId
    this.#url = options.url ?? ''
    this.logger = options.logger ?? silentLogger
    this.#p = new NodeParts(this, resolveLimits(options.limits), options)
    this.room(DEFAULT_ROOM)
    const antiEntropyMs = options.antiEntropyMs ?? 5000
    this.#ready = startParts(this.#p, { antiEntropyMs, closed: () => this.#closed, logger: this.logger })
  }

  /**
   * Resolves once the rooms are loaded from `persistence` (at once without); until then sockets
   * get 1013 and `join` and `put` wait. Rejects if the storage cannot be read.
   */
  ready(): Promise<void> {
    return this.#ready
  }

  /** The key/value store of room `default`. */
  get data(): MeshStore {
    return this.store(DEFAULT_ROOM)
  }

  /** The key/value store of a room (created if needed). The application holds it: its room is never unloaded. */
  store(room: string = DEFAULT_ROOM): MeshStore {
    return this.#p.rooms.held(room)
  }

  /**
   * Writes one key, or many in one commit, in room `default`; resolves once applied here.
   * `ephemeral` ties the keys to this node's membership, `ttl` makes them expire, `replicas: k`
   * resolves once k linked peers hold the write (see {@link flush}).
   */
  put(key: string, value: JsonValue, options?: PutOptions): Promise<void>
  put(entries: Record<string, JsonValue>, options?: PutOptions): Promise<void>
  put(keyOrEntries: string | Record<string, JsonValue>, value?: JsonValue | PutOptions, options?: PutOptions) {
    const opts = typeof keyOrEntries === 'string' ? options : (value as PutOptions | undefined)
    return acknowledgedPut(this.#p, this.#ready, opts, (store) =>
      typeof keyOrEntries === 'string'
        ? store.put(keyOrEntries, value as JsonValue, opts)
        : store.put(keyOrEntries, opts),
    )
  }

  /**
   * Waits until every write applied here so far in `room` (default `default`) is stored (with
   * `persistence`) and at least `replicas` linked peers hold it; else rejects with a `timeout`
   * MeshError naming how many did. @example await node.flush({ replicas: 2, timeoutMs: 2000 })
   */
  flush(options: { replicas?: number; room?: string; timeoutMs?: number } = {}): Promise<void> {
    return this.#p.flush(options)
  }

  /** The value of `key` in room `default`. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T lets a caller name the JSON shape it stored
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

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): () => void {
    return this.#p.emitter.on(event, listener)
  }

  /** Subscribes to the next emission of an event. */
  once<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): () => void {
    return this.#p.emitter.once(event, listener)
  }

  /** Unsubscribes. */
  off<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): void {
    this.#p.emitter.off(event, listener)
  }

  /** Returns a room, creating it and announcing it to every peer if needed. */
  room(name: string): RoomHandle {
    return this.#p.rooms.room(name)
  }

  /** Names of the rooms this node hosts. */
  rooms(): string[] {
    return this.#p.rooms.names()
  }

  /**
   * Takes over an accepted WebSocket: a peer link without `room` (`/mesh`), a light peer with
   * it (`/mesh/:room`). Feed frames to `receive`; call `close` when the socket closes.
   */
  accept(socket: MeshSocket, options: AcceptOptions = {}): Connection {
    if (this.#p.persistence?.loaded === false) return refuseWhileLoading(socket)
    return this.#p.admission.accept(socket, options)
  }

  /** Applies the origin allow-list and `authenticate` to a light peer or REST call (`accept` and REST do). */
  authorize(input: AuthorizeInput): Promise<AuthDecision> {
    return this.#p.admission.authorize(input)
  }

  /** Starts a peer link over a socket this side opened (dialer role). `join` does this for URLs. */
  connect(socket: MeshSocket): Connection {
    return this.#p.links.connect(socket)
  }

  /**
   * Connects to `ws://host:port/mesh` URLs and keeps the links up. Resolves once each URL did a
   * handshake (at once with `wait: false`); rejects with `timeout` naming the unreachable
   * URLs, still retrying, or at once with `bad_request` for a URL `checkPeerUrl` refuses.
   */
  join(urls: readonly string[], options: { timeoutMs?: number; wait?: boolean } = {}): Promise<void> {
    if (this.#p.persistence?.loaded === false) return this.#ready.then(() => this.#p.links.join(urls, options))
    return this.#p.links.join(urls, options)
  }

  /**
   * Waits until every dialed peer is connected and every link did its initial sync. Rejects
   * with a pending {@link MeshConflictError} (`exception`), or `timeout` naming what it still
   * waited on if peers stay away or refuse this node (a peer that refuses is not gone).
   */
  syncUp(options: { timeoutMs?: number } = {}): Promise<void> {
    return this.#p.syncUp(options.timeoutMs ?? 10_000)
  }

  /** Conflicts waiting for {@link resolveConflict} (`onConflict: 'exception'`). */
  conflicts(): MeshConflictError[] {
    return this.#p.conflicts.list()
  }

  /** Releases a room quarantined by `exception`: `merge` both histories or `accept` the peer's (docs/conflicts.md). */
  resolveConflict(options: { peer: string; room?: string; strategy: 'merge' | 'accept' }): void {
    this.#p.conflicts.resolve(options.peer, options.room ?? DEFAULT_ROOM, options.strategy)
  }

  /** Cuts and refuses the link to a peer until {@link heal}: a partition on demand, for demos and tests. */
  cut(peer: string): void {
    this.#p.links.cut(peer)
  }

  /** Lifts a {@link cut}; the link comes back at once when the peer's URL is known. */
  heal(peer: string): void {
    this.#p.links.heal(peer, this.#p.membership.list().find((m) => m.id === peer)?.url)
  }

  /** Peers whose links are cut. */
  cuts(): string[] {
    return this.#p.links.cuts()
  }

  /** Every member this node knows, itself first: nodes (gossip, heartbeats), then light peers (awareness). */
  members(): Member[] {
    return [...this.#p.membership.list(), ...lightMembers(this.#p.rooms.values())]
  }

  /** Replaces this node's capabilities and gossips them at once. */
  setCapabilities(capabilities: string[]): void {
    this.#p.membership.update({ capabilities: capabilityList(capabilities) })
  }

  /**
   * Runs a call on the actor of `id` on the owner of its shard of `capability` (docs/routing.md);
   * resolves with the JSON answer or rejects with a `MeshCallError`.
   * @example const total = await node.call({ capability: 'counter', id: 'user-42', payload: { add: 1 } })
   */
  call<T extends JsonValue = JsonValue>(options: CallOptions): Promise<T> {
    return this.#p.router.call(options) as Promise<T>
  }

  /** Like {@link call}, but nobody waits for the answer; throws a `no_owner` MeshCallError at once. */
  cast(options: CallOptions): void {
    this.#p.router.cast(options)
  }

  /** The member that owns `id` of `capability`; the same on every node that sees the same members. */
  ownerOf(capability: string, id: string): Member | undefined {
    const owner = this.#p.router.ownerOf(capability, id)
    return owner === undefined ? undefined : this.#p.membership.list().find((m) => m.id === owner)
  }

  /**
   * Registers how this node starts the actors of `capability`: `factory(id)` runs on the first
   * call for `id` this node owns. Declare the capability too ({@link setCapabilities}).
   */
  actor(capability: string, factory: ActorFactory): void {
    this.#p.router.register(capability, factory)
  }

  /**
   * Publishes `payload` (JSON) on `topic` to every subscriber in the mesh, this node's own
   * included (docs/routing.md). Never stored: a subscriber not connected misses it.
   */
  publish(topic: string, payload: JsonValue): PublishReceipt {
    return this.#p.pubsub.publish(topic, payload)
  }

  /** Calls `handler(payload, { topic, origin, id })` once per message on `topic` from now on; returns the unsubscribe. */
  subscribe(topic: string, handler: TopicHandler): () => void {
    return this.#p.pubsub.subscribe(topic, handler)
  }

  /** Replaces this node's member metadata (JSON) and gossips it at once. */
  setMeta(meta: Record<string, JsonValue>): void {
    this.#p.membership.update({ meta: toJsonValue(meta, 'meta') as Record<string, JsonValue> })
  }

  /** Counters and gauges for monitoring; `GET /mesh/api/metrics` renders them for Prometheus. */
  metrics(): Metric[] {
    return nodeMetrics(this.#p.view)
  }

  /** The recent commits (applied Yjs updates), oldest first. */
  history(filter: { room?: string; origin?: string; key?: string; limit?: number } = {}): Commit[] {
    this.#p.rooms.flushStores()
    return this.#p.log.list(filter)
  }

  /** This node's state: state vectors, peers, links and their history relation. */
  status(): NodeStatus {
    this.#p.rooms.flushStores()
    return nodeStatus(this.#p.view)
  }

  /** Advertised peer URL (`ws://host:port/mesh`); adapters or the CLI set it once the server listens. */
  get url(): string {
    return this.#url
  }

  set url(url: string) {
    this.#url = url
    this.#p.membership.update({ url })
  }

  /** The input limits in force. */
  get limits(): Readonly<Required<MeshLimits>> {
    return this.#p.limits
  }

  /**
   * The failure bound: silence after which this node declares a member dead (the membership
   * option `deadAfterMs`). A recipe that must tell a real death from its own process having
   * been paused waits this long after a pause before trusting the verdicts.
   */
  get deadAfterMs(): number {
    return this.#p.membership.deadAfterMs
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed
  }

  /** Leaves gracefully: stops the actors, tells every peer, closes every socket, frees every room. Idempotent. */
  close(): Promise<void> {
    return (this.#closing ??= this.#p.shutdown(() => (this.#closed = true)))
  }
}
