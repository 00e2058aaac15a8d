export { CloseCode, type CloseCodeValue } from './close-codes.js'
export { compareSnapshots, compareStateVectors, type HistoryRelation } from './compare.js'
export { CONFLICT_POLICIES, type ConflictPolicy } from './conflict.js'
export { MeshConflictError, MeshError, type ConflictingKey, type MeshErrorCode } from './errors.js'
export type { Commit } from './history.js'
export type { Member, MemberRecord, MemberState, MembershipOptions } from './membership.js'
export type { JsonValue } from './json.js'
export { silentLogger, type LogFields, type Logger } from './logger.js'
export {
  DEFAULT_ROOM,
  MeshNode,
  type ChangeEvent,
  type ConflictEvent,
  type MemberEvent,
  type MeshEvents,
  type MeshLimits,
  type MeshNodeOptions,
  type NodeStatus,
  type PeerEvent,
  type PeerStatus,
} from './node.js'
export type { BackoffOptions } from './peer-dialer.js'
export type { LinkRoomState, MergeReport } from './peer-link.js'
export { PROTOCOL_VERSION } from './protocol.js'
export { createRestHandler, type RestOptions, type RestRequest, type RestResponse } from './rest.js'
export type { Room } from './room.js'
export { KV_ARRAY, type KeyChange, type KvEntry } from './kv-index.js'
export type { Connection, MeshSocket } from './socket.js'
export { MAX_KEY_LENGTH } from './kv-index.js'
export { MeshStore, type KeyMeta, type PutOptions } from './store.js'
export { attachToServer, type AttachOptions } from './attach-to-server.js'
export { advertiseWhenListening, peerUrlFor, type AdvertiseOptions, type ListeningServer } from './advertise-url.js'
export {
  dnsDiscovery,
  multicastDiscovery,
  MULTICAST_DEFAULTS,
  parseDiscovery,
  type Discovery,
  type DiscoveryContext,
} from './discovery.js'
export { INSPECT_ROOM, InspectorFeed, type FeedMessage } from './inspector-feed.js'
export type { AuthDecision, AuthRequest, AuthResult, Authenticate } from './auth.js'
export { renderPrometheus, type Metric } from './metrics.js'
export { DRAIN_LIMITS, drainBodyStream, drainRequestBody, readBodyStream, readRequestBody } from './read-body.js'
export {
  createInspectorHandler,
  inspectorDistDir,
  type InspectorHandler,
  type InspectorHandlerOptions,
  type InspectorResponse,
} from './inspector-assets.js'
