/**
 * `@mesh/core`: what an application or an adapter needs. Internals (rooms as classes, the
 * inspector feed, metric rendering, asset paths) are not exported; docs/api.md lists every
 * export with one line each.
 */

// The node and its options, events and status.
export { MeshNode } from './node/index.js'
export type {
  Backbone,
  BackboneHost,
  ChangeEvent,
  ConflictEvent,
  MemberEvent,
  MeshEvents,
  MeshLimits,
  MeshNodeOptions,
  PeerEvent,
  UpdateSource,
} from './node/index.js'
export type { NodeStatus, PeerStatus, RoutingStatus, Metric, FeedMessage } from './observability/index.js'

// The key/value store.
export { DEFAULT_ROOM, KV_ARRAY, MAX_KEY_LENGTH } from './store/index.js'
export { MAX_VALUE_DEPTH } from './common/index.js'
export type { KeyChange, KeyMeta, KvEntry, MeshStore, PutOptions } from './store/index.js'

// Errors, close codes, logging, JSON.
export {
  checkPeerUrl,
  CloseCode,
  errorText,
  lineLogger,
  MeshConflictError,
  MeshError,
  silentLogger,
} from './common/index.js'
export type { CloseCodeValue, ConflictingKey, JsonValue, LogFields, Logger, MeshErrorCode } from './common/index.js'

// Replication: history, conflicts, the protocol version.
export { compareSnapshots, compareStateVectors, CONFLICT_POLICIES, PROTOCOL_VERSION } from './replication/index.js'
export type {
  BackoffOptions,
  Commit,
  ConflictPolicy,
  HistoryRelation,
  LinkRoomState,
  MergeReport,
  EncodedUpdate,
  RoomHandle,
  UpdateFormat,
} from './replication/index.js'

// Membership and discovery.
export { dnsDiscovery, multicastDiscovery, parseDiscovery } from './membership/index.js'
export type {
  Discovery,
  DiscoveryContext,
  Member,
  MemberRecord,
  MemberState,
  MembershipOptions,
} from './membership/index.js'

// Capability routing: calls to the actor that owns an id (docs/routing.md).
export { CALL_ERROR_CODES, MeshCallError, SHARDS, shardOf } from './routing/index.js'
export type { Actor, ActorFactory, CallErrorCode, CallOptions } from './routing/index.js'
// Pub/sub: messages to every subscriber in the mesh (docs/routing.md).
export { MAX_TOPIC_LENGTH, topicProblem } from './routing/index.js'
export type { PublishReceipt, TopicHandler, TopicMessage } from './routing/index.js'

// Persistence: the storage contract and an in-memory adapter (docs/persistence.md).
export { MemoryStorage } from './persistence/index.js'
export type {
  CompactionOptions,
  PersistenceStatus,
  StorageAdapter,
  StorageStats,
  StoredRoom,
} from './persistence/index.js'

// The adapter seam and security.
export type { Connection, MeshSocket } from './common/index.js'
export type { AuthDecision, AuthRequest, AuthResult, Authenticate, TopicAccess, TopicGrant } from './security/index.js'
export { HELLO_TIMEOUT_MS, RESERVED_TOPIC_PREFIX } from './security/index.js'

// HTTP glue shared by every adapter: Node servers, the Fetch API, WebSocket frames.
export {
  acceptFrames,
  advertiseWhenListening,
  attachToServer,
  createFetchHandler,
  createFetchRestHandler,
  createNodeHandler,
  createNodeRestHandler,
  createRestHandler,
  DEFAULT_MAX_BODY_BYTES,
  DRAIN_LIMITS,
  drainBodyStream,
  drainRequestBody,
  peerUrlFor,
  readBodyStream,
  readRequestBody,
  serveNode,
} from './http/index.js'
export type {
  AdvertiseOptions,
  AttachOptions,
  FetchHandler,
  FetchRestHandler,
  FrameConnection,
  ListeningServer,
  MeshHttpOptions,
  NodeHandler,
  NodeRestHandler,
  RestHandler,
  RestOptions,
  RestRequest,
  RestResponse,
  RuntimeFrame,
  ServedNode,
  ServeNodeOptions,
} from './http/index.js'

// The web inspector's static assets.
export { createInspectorHandler } from './observability/index.js'
export type { InspectorHandler, InspectorHandlerOptions, InspectorResponse } from './observability/index.js'
