/**
 * The browser-safe part of core (no Node built-ins), shared with `@mesh/client` so that a
 * tab and a node validate keys and values, and speak y-protocols, with the same code.
 */
export { Emitter, type Listener } from './emitter.js'
export { MeshError, type MeshErrorCode } from './errors.js'
export { defineJsonProperty, jsonEqual, toJsonValue, type JsonValue } from './json.js'
export { encodeLight, MessageType, SyncType } from './protocol.js'
export { KV_ARRAY, MAX_KEY_LENGTH, type KvEntry } from './kv-index.js'
export { assertKey } from './store.js'
export { CloseCode, type CloseCodeValue } from './close-codes.js'
export { decodeLightFrame, type LightFrameMessage } from './light-frame.js'
export { DEFAULT_ROOM, isRoomName, RESERVED_ROOM_NAMES, roomNameProblem, SYSTEM_ROOM_PREFIX } from './room-names.js'
