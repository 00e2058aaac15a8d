export { CloseCode, type CloseCodeValue } from './common/index.js'
export { compareSnapshots, compareStateVectors, type HistoryRelation } from './replication/index.js'
export { CONFLICT_POLICIES, type ConflictPolicy } from './replication/index.js'
export { MeshConflictError, MeshError, type ConflictingKey, type MeshErrorCode } from './common/index.js'
export type { Commit } from './replication/index.js'
export type { Member, MemberRecord, MemberState, MembershipOptions } from './membership/index.js'
export type { JsonValue } from './common/index.js'
export { silentLogger, type LogFields, type Logger } from './common/index.js'
export {
  MeshNode,
  type ChangeEvent,
  type ConflictEvent,
  type MemberEvent,
  type MeshEvents,
  type MeshLimits,
  type MeshNodeOptions,
  type PeerEvent,
} from './node/index.js'
export type { BackoffOptions } from './replication/index.js'
export type { LinkRoomState, MergeReport } from './replication/index.js'
export { PROTOCOL_VERSION } from './replication/index.js'
export { createRestHandler, type RestOptions, type RestRequest, type RestResponse } from './http/index.js'
export type { Room } from './replication/index.js'
export { KV_ARRAY, type KeyChange, type KvEntry } from './store/index.js'
export type { Connection, MeshSocket } from './common/index.js'
export { MAX_KEY_LENGTH } from './store/index.js'
export { MeshStore, type KeyMeta, type PutOptions } from './store/index.js'
export { attachToServer, type AttachOptions } from './http/index.js'
export { advertiseWhenListening, peerUrlFor, type AdvertiseOptions, type ListeningServer } from './http/index.js'
export {
  dnsDiscovery,
  multicastDiscovery,
  MULTICAST_DEFAULTS,
  parseDiscovery,
  type Discovery,
  type DiscoveryContext,
} from './membership/index.js'
export { INSPECT_ROOM, InspectorFeed, type FeedMessage } from './observability/index.js'
export type { AuthDecision, AuthRequest, AuthResult, Authenticate } from './security/index.js'
export { renderPrometheus, type Metric } from './observability/index.js'
export { DRAIN_LIMITS, drainBodyStream, drainRequestBody, readBodyStream, readRequestBody } from './http/index.js'
export {
  createInspectorHandler,
  inspectorDistDir,
  type InspectorHandler,
  type InspectorHandlerOptions,
  type InspectorResponse,
} from './observability/index.js'
export type { NodeStatus, PeerStatus } from './observability/index.js'
export { DEFAULT_ROOM } from './store/index.js'
