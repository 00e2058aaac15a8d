import * as Y from 'yjs'
import type { MeshConflictError, Metrics } from '../common/index.js'
import type { Member } from '../membership/index.js'
import type {
  ConflictPolicy,
  HistoryRelation,
  LinkRoomStatus,
  PeerDialer,
  PeerLink,
  Room,
} from '../replication/index.js'
import type { PersistenceStatus } from '../persistence/index.js'
import { DEFAULT_ROOM } from '../store/index.js'

/** One peer in `node.status()`. */
export interface PeerStatus {
  id: string | null
  name: string | null
  url: string
  direction: 'outgoing' | 'incoming'
  link: 'connecting' | 'handshake' | 'proving' | 'open' | 'waiting' | 'dormant' | 'self' | 'stopped' | 'closed'
  /** History relation of room `default` found at the last (re)sync. */
  relation: HistoryRelation | null
  rooms: Record<string, LinkRoomStatus>
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
  rooms: Record<
    string,
    {
      stateVector: Record<string, number>
      keys: number
      lightPeers: number
      /** True while updates wait for something they depend on (pending structs): a gap anti-entropy is filling. */
      pending: boolean
      /**
       * False while the room has held nothing and nobody's presence since it was opened: its
       * document is not created yet (rooms load on first content, presence or use).
       */
      loaded: boolean
    }
  >
  peers: PeerStatus[]
  lightPeers: number
  conflicts: Array<{ peer: string; room: string; keys: string[] }>
  commits: number
  /**
   * Duplicate live updates: received with nothing new, and left out of relays (docs/protocol.md,
   * peer links step 5). Always set by this version; absent from nodes that predate it.
   */
  relays?: { duplicatesApplied: number; duplicatesDropped: number }
  /**
   * Capability routing on this node (docs/routing.md): per capability it declares or runs
   * actors of, the shards it owns (of 4096) and its live actors. Always set by this version;
   * absent from nodes that predate routing, which an inspector may still watch.
   */
  routing?: RoutingStatus[]
  /** Storage figures, with the `persistence` option (docs/persistence.md). */
  persistence?: PersistenceStatus
}

/** One capability in {@link NodeStatus.routing}. */
export interface RoutingStatus {
  capability: string
  /** Shards of the capability this node owns, by its own placement table. */
  shards: number
  /** Actors of the capability live on this node. */
  actors: number
}

/** What status and metrics read of a node. */
export interface NodeView {
  readonly id: string
  readonly name: string
  readonly url: string
  readonly onConflict: ConflictPolicy
  readonly startedAt: number
  readonly counters: Metrics
  /** Commits applied since the start. */
  readonly commits: number
  rooms(): Iterable<Room>
  links(): Iterable<PeerLink>
  dialers(): Iterable<PeerDialer>
  readonly lightPeers: number
  conflicts(): MeshConflictError[]
  members(): Member[]
  /** Live actors (capability routing). */
  readonly actors: number
  /** Capability routing, per capability. */
  routing(): RoutingStatus[]
  /** Storage figures, when the node persists. */
  persistence(): PersistenceStatus | undefined
}

const svToJson = (doc: Y.Doc): Record<string, number> =>
  Object.fromEntries([...Y.decodeStateVector(Y.encodeStateVector(doc))].map(([c, k]) => [String(c), k]))

/** Assembles `node.status()`. */
export const nodeStatus = (node: NodeView): NodeStatus => {
  const peers: PeerStatus[] = []
  const seen = new Set<PeerLink>()
  for (const d of node.dialers()) {
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
  for (const link of node.links()) {
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
  for (const room of node.rooms()) {
    rooms[room.name] = {
      // A room not loaded (opened, never written or shared presence in) is empty.
      stateVector: room.loaded ? svToJson(room.doc) : {},
      keys: room.loaded ? room.kv.size : 0,
      lightPeers: room.lightCount,
      pending: room.pending,
      loaded: room.loaded,
    }
  }
  return {
    id: node.id,
    name: node.name,
    url: node.url,
    onConflict: node.onConflict,
    stateVector: rooms[DEFAULT_ROOM]?.stateVector ?? {},
    rooms,
    peers,
    lightPeers: node.lightPeers,
    conflicts: node.conflicts().map((c) => ({ peer: c.peer, room: c.room, keys: c.keys.map((k) => k.key) })),
    commits: node.commits,
    relays: {
      duplicatesApplied: node.counters.duplicatesApplied,
      duplicatesDropped: node.counters.duplicatesDropped,
    },
    routing: node.routing(),
    ...persistenceOf(node),
  }
}

const persistenceOf = (node: NodeView): { persistence?: PersistenceStatus } => {
  const persistence = node.persistence()
  return persistence ? { persistence } : {}
}
