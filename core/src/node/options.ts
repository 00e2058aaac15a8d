import { MeshError, type JsonValue, type Logger } from '../common/index.js'
import type { Discovery, MembershipOptions } from '../membership/index.js'
import { CONFLICT_POLICIES, type BackoffOptions, type ConflictPolicy } from '../replication/index.js'
import type { CompactionOptions, StorageAdapter } from '../persistence/index.js'
import type { Authenticate } from '../security/index.js'
import type { Backbone } from './backbone.js'

/** Limits with defaults; each guards the node against one kind of oversized input. */
export interface MeshLimits {
  /**
   * Largest frame accepted on a peer link. Default 16 MiB. Larger messages (a room's state at a
   * cold join) cross in pieces of at most 1 MiB (`PART_BYTES`), so it need not exceed
   * `maxDocumentBytes`; every node of a mesh should use the same value.
   */
  peerMessageBytes?: number
  /** Largest frame accepted from a light peer. Default 16 MiB. */
  lightMessageBytes?: number
  /** Most rooms a node hosts; a peer or light peer that would create more is refused (4429). Default 1000. */
  maxRooms?: number
  /**
   * Largest encoded size a room may reach, through local writes (a `too_large` MeshError,
   * nothing applied) or remote ones (a light peer is closed 4413; a peer link holds that room
   * and keeps the others). It also bounds a message a peer sends in pieces. Default 192 MiB.
   */
  maxDocumentBytes?: number
  /** Frames per second one light peer may send, bursts of twice that (4429 beyond). Default 500. */
  lightMessagesPerSecond?: number
  /**
   * WebSocket messages per second one peer link may send, bursts of twice that (4429 beyond).
   * A node sends one tick's small frames as one `batch` message; the frames inside batches
   * may come at 16 times this rate. Default 20000.
   */
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
   * Unsent bytes all light-peer sockets of the node may hold together. While they hold more,
   * SyncStep1 answers that carry state wait (clients that ask and never read cannot each pin a
   * copy of the room); answers to identical requests are shared until the room changes.
   * Default 32 MiB.
   */
  lightSendBudgetBytes?: number
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
  /**
   * Most actors live on this node (docs/routing.md). A call for a new id beyond it stops the
   * least recently called idle actor (its `stop` hook runs) to make room, or fails with
   * `actor_failed` when every actor is busy. Default 100000.
   */
  maxActors?: number
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
  /**
   * Longest silence towards a light peer: one that was sent nothing for this long gets a keepalive
   * message (the y-websocket client gives up after 30 s of silence). Default 15 s.
   */
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
  /**
   * Most links this node dials on its own, to members gossip names and addresses `discovery`
   * finds (one address even at 0 while it has no link). Links other nodes dial to it are
   * accepted and count toward it; `join` dials every URL it is given, whatever this says.
   * Default 8 (0 with a `backbone`). See docs/membership.md, Discovery.
   */
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
  /**
   * A shared transport to the other nodes beside peer links, e.g. `redisBackbone(url)` from
   * `@mesh/redis` (docs/backbone.md). With one, members it reports are not dialed (`maxPeers`
   * defaults to 0).
   */
  backbone?: Backbone
  /**
   * Keeps every room in a storage adapter across restarts (docs/persistence.md): the node loads
   * its rooms before it serves or syncs (await {@link MeshNode.ready}), then appends every
   * update it applies. Off by default. `@mesh/storage` has the embedded default.
   * @example persistence: new LevelStorage({ dir: './data', fsync: 'batch:50' })
   */
  persistence?: StorageAdapter | { storage: StorageAdapter; compaction?: CompactionOptions }
  /** Light peers (browser tabs, y-websocket clients). */
  lightPeers?: {
    /** Refuse their writes: `true` for all, or decide per connection. Default: they may write. */
    readOnly?: boolean | ((info: { room: string; request: unknown }) => boolean)
  }
}

/** Fills in the defaults of `limits` and checks them; throws a `bad_option` MeshError. */
export const resolveLimits = (limits: MeshLimits = {}): Required<MeshLimits> => {
  const resolved: Required<MeshLimits> = {
    peerMessageBytes: limits.peerMessageBytes ?? 16 * 1024 * 1024,
    lightMessageBytes: limits.lightMessageBytes ?? 16 * 1024 * 1024,
    maxRooms: limits.maxRooms ?? 1000,
    maxDocumentBytes: limits.maxDocumentBytes ?? 192 * 1024 * 1024,
    lightMessagesPerSecond: limits.lightMessagesPerSecond ?? 500,
    peerMessagesPerSecond: limits.peerMessagesPerSecond ?? 20_000,
    maxConnections: limits.maxConnections ?? 10_000,
    lightSendBufferBytes: limits.lightSendBufferBytes ?? 32 * 1024 * 1024,
    peerSendBufferBytes: limits.peerSendBufferBytes ?? 256 * 1024 * 1024,
    lightSendBudgetBytes: limits.lightSendBudgetBytes ?? 32 * 1024 * 1024,
    lightSyncAnswersPerMinute: limits.lightSyncAnswersPerMinute ?? 30,
    preAuthBytes: limits.preAuthBytes ?? 256 * 1024,
    maxActors: limits.maxActors ?? 100_000,
  }
  for (const name of [
    'maxDocumentBytes',
    'lightSendBufferBytes',
    'peerSendBufferBytes',
    'lightSendBudgetBytes',
    'lightSyncAnswersPerMinute',
    'preAuthBytes',
    'maxActors',
  ] as const) {
    const value = resolved[name]
    if (typeof value !== 'number' || !(value > 0)) {
      throw new MeshError(
        'bad_option',
        `limits.${name} must be a positive number (Infinity for no limit); got ${String(value)}`,
      )
    }
  }
  return resolved
}

/** The mesh secrets as a list; throws a `bad_option` MeshError on a short one. */
export const resolveSecrets = (secret: MeshNodeOptions['secret']): readonly string[] => {
  const secrets = typeof secret === 'string' ? [secret] : [...(secret ?? [])]
  if (secrets.some((s) => typeof s !== 'string' || s.length < 8)) {
    throw new MeshError('bad_option', 'secret must be a string of at least 8 characters (or a list of them)')
  }
  return secrets
}

/** The node's id, name and conflict policy, with their defaults; throws a `bad_option` MeshError. */
export const resolveIdentity = (
  options: MeshNodeOptions,
): { id: string; name: string; onConflict: ConflictPolicy; clientId: number } => {
  const onConflict = options.onConflict ?? 'merge'
  if (!CONFLICT_POLICIES.includes(onConflict)) {
    throw new MeshError('bad_option', `onConflict must be one of ${CONFLICT_POLICIES.join(', ')}; got "${onConflict}"`)
  }
  const id = options.id ?? globalThis.crypto.randomUUID()
  const name = options.name ?? `node-${id.slice(0, 6)}`
  if (name.length === 0 || name.length > 256) throw new MeshError('bad_option', 'name must be 1 to 256 characters')
  // A fresh Yjs client id per node instance: two lives of one node id never write as one client.
  const clientId = globalThis.crypto.getRandomValues(new Uint32Array(1))[0] ?? 1
  return { id, name, onConflict, clientId }
}
