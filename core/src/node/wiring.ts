import { Emitter, MeshError, Metrics, Progress, type Logger, unrefTimer, errorText } from '../common/index.js'
import { LightPeers } from '../light-peers/index.js'
import { MemberReactions, Membership, type Discovery } from '../membership/index.js'
import { InspectorFeed, INSPECT_ROOM, type FeedSource, type NodeStatus, type NodeView } from '../observability/index.js'
import {
  antiEntropyRound,
  CommitLog,
  ConcurrentWrites,
  waitForReplicas,
  Conflicts,
  PeerLink,
  encodePeer,
  PeerLinks,
  PENDING_ROUNDS,
  Rooms,
  type Room,
} from '../replication/index.js'
import { NodePersistence } from '../persistence/index.js'
import { PubSub, Router } from '../routing/index.js'
import { Admission } from '../security/index.js'
import { DEFAULT_ROOM, EphemeralSweeper, MeshStore, type ConcurrentWrite } from '../store/index.js'
import { BackboneBridge } from './backbone-host.js'
import { discoveryContext } from './discovery-context.js'
import type { MeshEvents } from './events.js'
import { makeLinkHost } from './link-host.js'
import type { MeshLimits, MeshNodeOptions } from './options.js'
import { resolveSecrets } from './options.js'
import { CommitOrigins } from './origins.js'
import { makeNodeView } from './view.js'
import { makePersistence } from './persistence-option.js'

/** How long an empty idle room, or a departed client's awareness clock, is kept, in `deadAfterMs`. */
const IDLE_DEAD_AFTERS = 12

/** What the parts read of the node they serve (a `MeshNode` is one). */
export interface NodeCore extends FeedSource {
  readonly id: string
  readonly name: string
  readonly url: string
  readonly clientId: number
  readonly startedAt: number
  readonly onConflict: NodeStatus['onConflict']
  readonly logger: Logger
}

/**
 * The parts of a node, built and wired to each other: each lives in its concept's folder
 * and sees the others only through the small host interface it declares.
 */
export class NodeParts {
  readonly emitter: Emitter<MeshEvents>
  readonly counters = new Metrics()
  readonly progress = new Progress()
  readonly log: CommitLog
  readonly origins: CommitOrigins
  readonly conflicts: Conflicts
  readonly links: PeerLinks
  readonly rooms: Rooms
  readonly lights: LightPeers
  readonly admission: Admission
  readonly reactions: MemberReactions
  readonly membership: Membership
  readonly sweeper: EphemeralSweeper
  readonly view: NodeView
  readonly discovery: Discovery[]
  readonly router: Router
  /** The input limits in force. */
  readonly limits: Readonly<Required<MeshLimits>>
  readonly pubsub: PubSub
  /** Set when the node keeps its rooms in storage. */
  readonly persistence: NodePersistence | undefined
  /** The node's side of `options.backbone`, when one is set. */
  readonly backbone: BackboneBridge | undefined
  #core: NodeCore
  #antiEntropy: ReturnType<typeof setInterval> | undefined

  constructor(core: NodeCore, limits: Readonly<Required<MeshLimits>>, options: MeshNodeOptions) {
    this.#core = core
    this.limits = limits
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the object literals below have their own `this`
    const parts = this
    const logger = core.logger
    this.log = new CommitLog(options.historyLimit ?? 1000)
    const emitter = (this.emitter = new Emitter((error, event) =>
      logger.error('event listener failed', { event, error: errorText(error) }),
    ))
    const progress = this.progress
    const origins = (this.origins = new CommitOrigins(core.id, core.clientId))
    this.conflicts = new Conflicts({
      logger,
      existingRoom: (name) => parts.rooms.existing(name),
      link: (peer) => parts.links.get(peer),
      links: () => parts.links.values(),
      conflict: (event) => emitter.emit('conflict', event),
      merge: (report) => emitter.emit('merge', report),
      progress: () => progress.notify(),
    })
    const concurrent = new ConcurrentWrites({
      conflicts: this.conflicts,
      policy: () => core.onConflict,
      peerOf: (origin) => (origin instanceof PeerLink ? origin.peerId : undefined),
    })
    const shared = {
      counters: parts.counters,
      progress,
      log: parts.log,
      rooms: () => parts.rooms,
      links: () => parts.links,
      conflicts: () => parts.conflicts,
      concurrent: (room: Room, writes: ConcurrentWrite[], origin: unknown) =>
        parts.guard('concurrent-writes', () => concurrent.handle(room, writes, origin)),
      membership: () => parts.membership,
      lights: () => parts.lights,
      router: () => parts.router,
      pubsub: () => parts.pubsub,
      persistence: () => parts.persistence,
    }
    this.links = new PeerLinks({
      id: core.id,
      logger,
      get closed() {
        return core.closed
      },
      maxMessageBytes: limits.peerMessageBytes,
      backoff: options.reconnect,
      progress,
      linkHost: makeLinkHost({ ...shared, node: core, limits, secrets: resolveSecrets(options.secret) }),
      linked: (link, remote) => {
        origins.name(remote.clientId, remote.nodeId)
        parts.membership.linked({ id: remote.nodeId, name: remote.name, url: remote.url }, Date.now())
        link.sendFrame(encodePeer.gossip(JSON.stringify(parts.membership.digest())))
        parts.membership.refreshLinks(Date.now(), { silence: false })
      },
      peerUp: (event) => emitter.emit('peer:up', event),
      peerDown: (event) => {
        parts.guard('membership', () => parts.membership.refreshLinks(Date.now(), { silence: false }))
        emitter.emit('peer:down', event)
      },
    })
    this.persistence = makePersistence(options.persistence, logger, (name) => parts.rooms.room(name))
    this.rooms = new Rooms({
      clientId: core.clientId,
      log: parts.log,
      hooks: {
        ...origins.roomHooks(emitter, () => parts.rooms),
        duplicatesDropped: (count) => void (parts.counters.duplicatesDropped += count),
        onConcurrent: shared.concurrent,
        lanes: () => core.onConflict === 'merge',
      },
      maxRooms: limits.maxRooms,
      maxDocumentBytes: limits.maxDocumentBytes,
      logger,
      assertOpen: () => parts.assertOpen(),
      makeStore: (room) =>
        new MeshStore({
          room,
          origin: origins.local,
          owner: core.id,
          yields: core.onConflict === 'accept',
          reasserting: (keys) => {
            // Say we are alive before the keys arrive, so a sweeper that judged us dead stops.
            parts.membership.announce()
            logger.info('writing back ephemeral keys another node removed', { room: room.name, keys: keys.length })
          },
        }),
      loaded: (room) => parts.persistence?.attach(room),
      created: (room) => {
        for (const link of parts.links.values()) link.startRoom(room)
        parts.backbone?.created(room)
      },
      unloaded: (name) => {
        parts.persistence?.detach(name)
        for (const link of parts.links.values()) link.dropRoom(name)
      },
    })
    this.lights = new LightPeers({
      logger,
      metrics: parts.counters,
      maxMessageBytes: limits.lightMessageBytes,
      messagesPerSecond: limits.lightMessagesPerSecond,
      sendBufferBytes: limits.lightSendBufferBytes,
      syncAnswersPerMinute: limits.lightSyncAnswersPerMinute,
      sendBudgetBytes: limits.lightSendBudgetBytes,
      keepaliveMs: options.lightKeepaliveMs ?? 15_000,
      readOnly: options.lightPeers?.readOnly,
      left: (room) => parts.guard('room-unload', () => parts.rooms.left(room)),
      topics: {
        addSink: (topic, sink) => parts.pubsub.addSink(topic, sink),
        removeSink: (topic, sink) => parts.pubsub.removeSink(topic, sink),
        publishJson: (topic, text) => parts.pubsub.publishJson(topic, text),
      },
    })
    this.admission = new Admission({
      logger,
      metrics: parts.counters,
      get closed() {
        return core.closed
      },
      maxConnections: limits.maxConnections,
      preAuthBytes: limits.preAuthBytes,
      authenticate: options.authenticate,
      allowedOrigins: options.allowedOrigins,
      connections: () => parts.links.connections + parts.lights.size,
      isFeed: (room) => room === INSPECT_ROOM,
      openPeer: (socket) => parts.links.accept(socket),
      openFeed: (socket) => new InspectorFeed(core, socket, (listener) => progress.listen(listener)),
      openLight: (socket, o) => parts.lights.accept(socket, () => parts.rooms.room(o.room), o),
    })
    this.reactions = new MemberReactions({
      id: core.id,
      logger,
      get closed() {
        return core.closed
      },
      // On a backbone, members learned from it are not dialed unless asked: the backbone links them.
      maxPeers: options.maxPeers ?? (options.backbone ? 0 : 8),
      get membership() {
        return parts.membership
      },
      links: parts.links,
      conflicts: parts.conflicts,
      emit: (name, event) => emitter.emit(name, event),
      sweep: (now) => parts.sweep(now),
    })
    this.sweeper = new EphemeralSweeper({
      id: core.id,
      logger,
      alive: () => parts.membership.list().flatMap((m) => (m.state === 'alive' ? [m.id] : [])),
      stateOf: (id) => parts.membership.stateOf(id),
      get deadAfterMs() {
        return parts.membership.deadAfterMs
      },
      stores: () => [...parts.rooms.stores()],
    })
    this.router = new Router({
      id: core.id,
      logger,
      maxMessageBytes: limits.peerMessageBytes,
      maxActors: limits.maxActors,
      members: {
        get version() {
          return parts.membership.version
        },
        members: () => parts.membership.list(),
      },
      link: (peer) => parts.links.get(peer),
      links: () => parts.links.values(),
      metrics: parts.counters,
    })
    this.pubsub = new PubSub({
      id: core.id,
      logger,
      metrics: parts.counters,
      maxMessageBytes: limits.peerMessageBytes,
      links: () => parts.links.values(),
    })
    this.view = makeNodeView({ ...shared, node: core })
    this.membership = new Membership(
      {
        id: core.id,
        name: core.name,
        url: core.url,
        capabilities: options.capabilities ?? [],
        meta: options.meta ?? {},
        startedAt: core.startedAt,
      },
      {
        broadcast: (records, except) =>
          parts.guard('gossip', () => {
            if (parts.links.size > 0) parts.links.broadcast(encodePeer.gossip(JSON.stringify(records)), except)
          }),
        sendTo: (peer, records) =>
          parts.guard('gossip', () => parts.links.get(peer)?.sendFrame(encodePeer.gossip(JSON.stringify(records)))),
        links: () => parts.links.values(),
        changed: (member, previous) => parts.guard('membership', () => parts.reactions.changed(member, previous)),
        tick: (now) => parts.guard('heartbeat', () => parts.tick(now)),
        placementChanged: () => parts.guard('placement', () => parts.router.placementChanged()),
        stalled: (gapMs) => parts.guard('stall', () => parts.reactions.stalled(gapMs)),
        random: Math.random,
      },
      options.membership,
    )
    this.discovery = options.discovery ?? []
    this.backbone = options.backbone && new BackboneBridge(core, this, options.backbone)
  }

  /** Starts what runs on its own: heartbeats, discovery, anti-entropy rounds. */
  start(antiEntropyMs: number): void {
    const core = this.#core
    this.membership.start()
    const offer = (urls: readonly string[]) => this.guard('discovery', () => this.reactions.offer(urls))
    for (const discovery of this.discovery) discovery.start(discoveryContext(core, { offer }))
    const antiEntropy = () =>
      this.guard('anti-entropy', () => {
        if (core.closed) return
        antiEntropyRound(this.rooms.values(), this.links, (room) => {
          this.counters.pendingDropped++
          core.logger.warn('dropped updates that stayed pending: what they depend on never arrived', {
            room: room.name,
            rounds: PENDING_ROUNDS,
          })
        })
      })
    // On a backbone the rounds ride on the heartbeat (BackboneBridge.heartbeat): one wake-up fewer for an idle node.
    if (this.backbone) return this.backbone.start(this.rooms.values(), { antiEntropy, antiEntropyMs })
    this.#antiEntropy = setInterval(antiEntropy, antiEntropyMs)
    unrefTimer(this.#antiEntropy)
  }

  /**
   * Leaves the mesh: stops the actors (their handoff hooks may still write), removes this
   * node's ephemeral keys while the links can carry it, says goodbye and frees everything.
   * `markClosed` flips the node's `closed` flag at the point from which nothing new starts.
   */
  async shutdown(markClosed: () => void): Promise<void> {
    const core = this.#core
    const stopping = this.router.close()
    if (stopping) await stopping
    this.pubsub.close()
    this.rooms.flushStores()
    for (const [, store] of this.rooms.stores()) store.sweep(Date.now(), (owner) => owner === core.id)
    markClosed()
    this.progress.close()
    this.stopTimers()
    for (const room of this.rooms.values()) room.flush()
    this.membership.leave()
    // After the leave record, which the backbone hands over as its last heartbeat.
    await this.backbone?.close()
    this.links.leave('node is leaving')
    this.lights.close()
    // Corked leave frames reach the kernel only after this tick: a caller destroying sockets after close() loses them.
    await new Promise((resolve) => setImmediate(resolve))
    await this.persistence?.close()
    this.rooms.destroy()
    this.progress.notify()
    this.emitter.clear()
  }

  /** `node.flush`: waits until `replicas` linked peers hold every write of `room` (see MeshNode). */
  async flush(options: { replicas?: number; room?: string; timeoutMs?: number }): Promise<void> {
    this.assertOpen()
    const name = options.room ?? DEFAULT_ROOM
    const room = this.rooms.existing(name)
    if (!room) throw new MeshError('not_found', `no room "${name}"`)
    this.rooms.existingStore(name)?.flush()
    room.flush()
    await this.persistence?.durable(name)
    await waitForReplicas(room, this.links, this.progress, options.replicas ?? 1, options.timeoutMs ?? 5000)
  }

  /** `node.syncUp`: every dialed peer connected (but the dead, left or forgotten) and every link synced, or a conflict. */
  async syncUp(timeoutMs: number): Promise<void> {
    const gone = (peer: string) => ['dead', 'left', undefined].includes(this.membership.stateOf(peer))
    const done = () => this.conflicts.size > 0 || this.links.unsynced(gone) === undefined
    await this.progress.waitFor(
      done,
      timeoutMs,
      () => `peers did not finish syncing (waiting on ${this.links.unsynced(gone) ?? 'nothing now'})`,
    )
    const conflict = this.conflicts.list()[0]
    if (conflict) throw conflict
  }

  /** Stops discovery, anti-entropy and the conflicts' resume checks (the node is closing). */
  stopTimers(): void {
    for (const discovery of this.discovery) discovery.stop()
    clearInterval(this.#antiEntropy)
    this.conflicts.close()
  }

  /** Runs `work` from a timer or handler: an error is logged and counted, never thrown out of the node. */
  guard(where: string, work: () => void): void {
    try {
      work()
    } catch (error) {
      this.counters.failed(where)
      this.#core.logger.error('internal error caught', { where, error: errorText(error, { stack: true }) })
    }
  }

  assertOpen(): void {
    if (this.#core.closed) throw new MeshError('closed', 'node is closed')
  }

  tick(now: number): void {
    this.reactions.heartbeat()
    this.sweep(now)
    this.rooms.prune(now, IDLE_DEAD_AFTERS * this.membership.deadAfterMs)
    this.origins.prune()
    this.backbone?.heartbeat(now)
  }

  sweep(now: number): void {
    if (!this.#core.closed) this.sweeper.sweep(now)
  }
}
