export { MeshClientError, type MeshClientErrorCode } from './errors.js'
export { KV_ARRAY, MAX_KEY_LENGTH, MeshError, type JsonValue } from '@mesh/core/browser'
export {
  DEFAULT_ROOM,
  MeshClient,
  type BackoffOptions,
  type ClientChangeEvent,
  type ClientStatus,
  type MeshClientEvents,
  type MeshClientOptions,
  type ReadOnlyEvent,
  type StatusEvent,
} from './mesh-client.js'
export { MeshPresence, type PresenceEvent, type PresencePeer } from './presence.js'
export type { ClientSocket, WebSocketConstructor } from './socket.js'
