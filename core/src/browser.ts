/**
 * The browser-safe part of core (no Node built-ins), shared with `@mesh/client` so that a
 * tab and a node validate keys and values, and speak y-protocols, with the same code.
 */
export { Emitter, type Listener } from './common/index.js'
export { MeshError, type MeshErrorCode } from './common/index.js'
export { defineJsonProperty, jsonEqual, MAX_VALUE_DEPTH, toJsonValue, type JsonValue } from './common/index.js'
export { MessageType, SyncType } from './replication/protocol.js'
export { encodeLight } from './replication/light-messages.js'
export { MAX_TOPIC_LENGTH, topicProblem } from './routing/topic-rules.js'
export { KV_ARRAY, MAX_KEY_LENGTH, type KvEntry } from './store/index.js'
export { assertKey } from './store/index.js'
export { CloseCode, type CloseCodeValue } from './common/index.js'
export { decodeLightFrame, type LightFrameMessage } from './replication/light-frame.js'
export {
  DEFAULT_ROOM,
  isRoomName,
  RESERVED_ROOM_NAMES,
  roomNameProblem,
  SYSTEM_ROOM_PREFIX,
} from './replication/room-names.js'
