/**
 * Room-name rules, shared by nodes and `@mesh/client` so that a tab refuses locally what a
 * node would refuse on the wire. Browser-safe.
 */

/** The room that holds the key/value store the REST API and `put`/`get`/`pop` work on. */
export const DEFAULT_ROOM = 'default'

/** Names that would collide with the endpoints under the base path (`/mesh/api`, `/mesh/inspector`). */
export const RESERVED_ROOM_NAMES: readonly string[] = ['api', 'inspector']

/** Rooms whose names start with this are system feeds (the inspector's `_inspect`), not data rooms. */
export const SYSTEM_ROOM_PREFIX = '_'

/** 1 to 128 URL path characters that need no escaping, not starting with `_`. */
const ROOM_NAME = /^[A-Za-z0-9.~:@!$'()*+,;=-][A-Za-z0-9._~:@!$'()*+,;=-]{0,127}$/

/**
 * Why `name` cannot be a data room, or `undefined` when it can.
 *
 * @example roomNameProblem('_inspect') // 'names starting with "_" are reserved for system feeds'
 */
export const roomNameProblem = (name: unknown): string | undefined => {
  if (typeof name !== 'string' || name.length === 0) return 'a room name must be a non-empty string'
  if (name.length > 128) return 'a room name is at most 128 characters'
  if (name.startsWith(SYSTEM_ROOM_PREFIX))
    return `names starting with "${SYSTEM_ROOM_PREFIX}" are reserved for system feeds`
  if (RESERVED_ROOM_NAMES.includes(name)) return `"${name}" is reserved: it is an endpoint under the base path`
  if (!ROOM_NAME.test(name)) return "a room name may hold only letters, digits and . _ ~ : @ ! $ ' ( ) * + , ; = -"
  return undefined
}

/** True when `name` is a valid data-room name; see {@link roomNameProblem} for the reason when not. */
export const isRoomName = (name: unknown): name is string => roomNameProblem(name) === undefined
