import type { JsonValue } from './json-value.js'
/** Every failure Mesh reports on purpose carries one of these codes. */
export type MeshErrorCode =
  | 'bad_message'
  | 'bad_request'
  | 'not_found'
  | 'too_large'
  | 'conflict'
  | 'closed'
  | 'timeout'
  | 'protocol_version'
  | 'bad_option'
  | 'read_only'
  | 'rejected'
  | 'listener'
  | 'forbidden'
  | 'no_owner'
  | 'owner_lost'
  | 'actor_failed'
  | 'storage_failed'

/** The one error type Mesh throws and emits; switch on `code`, not on the message. */
export class MeshError extends Error {
  readonly code: MeshErrorCode

  constructor(code: MeshErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'MeshError'
    this.code = code
  }
}

/** One key that both sides of a divergence changed, with the value each side held. */
export interface ConflictingKey {
  key: string
  local: JsonValue | undefined
  remote: JsonValue | undefined
}

/**
 * Raised by `onConflict: 'exception'`: the link to `peer` is quarantined for `room` until
 * the application calls `node.resolveConflict(...)`.
 */
export class MeshConflictError extends MeshError {
  readonly peer: string
  readonly room: string
  readonly keys: ConflictingKey[]

  constructor(options: { peer: string; room: string; keys: ConflictingKey[] }) {
    const names = options.keys.map((k) => k.key).join(', ') || '(none visible)'
    super('conflict', `room "${options.room}" diverged from peer ${options.peer}; conflicting keys: ${names}`)
    this.name = 'MeshConflictError'
    this.peer = options.peer
    this.room = options.room
    this.keys = options.keys
  }
}

/**
 * Text of anything thrown, for a log line (with `stack`, an Error's stack). Never throws
 * itself: a handler may throw any value, and one built from hostile input (`{ toString: 0 }`)
 * makes `String(value)` throw.
 */
export const errorText = (error: unknown, options: { stack?: boolean } = {}): string => {
  try {
    const stack = options.stack ? (error as { stack?: unknown } | null | undefined)?.stack : undefined
    return typeof stack === 'string' ? stack : String(error)
  } catch {
    return Object.prototype.toString.call(error)
  }
}
