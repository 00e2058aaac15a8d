import { MeshError, toJsonValue, type JsonValue } from '../common/index.js'
import { CallFlag, type CallMessage } from '../replication/index.js'

/** What a routed call names: which actor, with what. */
export interface CallOptions {
  /** The capability whose owner runs the call, e.g. `counter`. */
  capability: string
  /** The id of the actor, e.g. `user-42`; its shard decides the owner. */
  id: string
  /** JSON handed to the actor's `call`. Default `null`. */
  payload?: JsonValue
  /** How long to wait for the answer, retry included. Default 5000 ms. */
  timeoutMs?: number
}

/** The default deadline of a call. */
export const DEFAULT_CALL_TIMEOUT_MS = 5000
/** The longest deadline a call may ask for (and a peer may send). */
export const MAX_CALL_TIMEOUT_MS = 10 * 60_000
/** The longest capability name and id. */
export const MAX_CAPABILITY_LENGTH = 256
export const MAX_ID_LENGTH = 1024

/** A call's options, checked: the payload as a private copy and as the JSON text that travels. */
export interface CheckedCall {
  capability: string
  id: string
  timeoutMs: number
  value: JsonValue
  payload: string
}

/** UTF-8 bytes of a string. */
export const byteLength = (text: string): number => Buffer.byteLength(text)

/** Checks what an application passed to `call` or `cast`; throws a `bad_request` or `too_large` MeshError. */
export const checkCallOptions = (options: CallOptions | undefined, maxPayloadBytes: number): CheckedCall => {
  // Callers from plain JS may pass nothing.
  const { capability, id } = options ?? ({} as Partial<CallOptions>)
  if (typeof capability !== 'string' || capability.length === 0 || capability.length > MAX_CAPABILITY_LENGTH) {
    throw new MeshError('bad_request', `capability must be a string of 1 to ${MAX_CAPABILITY_LENGTH} characters`)
  }
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) {
    throw new MeshError('bad_request', `id must be a string of 1 to ${MAX_ID_LENGTH} characters`)
  }
  const timeoutMs = options?.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_CALL_TIMEOUT_MS) {
    throw new MeshError('bad_request', `timeoutMs must be a whole number of ms from 1 to ${MAX_CALL_TIMEOUT_MS}`)
  }
  const value = toJsonValue(options?.payload ?? null, 'payload')
  const payload = JSON.stringify(value)
  if (exceeds(payload, maxPayloadBytes)) {
    throw new MeshError('too_large', `the payload is larger than ${maxPayloadBytes} bytes`)
  }
  return { capability, id, timeoutMs, value, payload }
}

/** Checks a `call` from a peer and returns its payload; anything malformed throws (which closes the link). */
export const checkCallMessage = (message: CallMessage, maxPayloadBytes: number): JsonValue => {
  const { capability, id, target } = message
  if (capability.length === 0 || capability.length > MAX_CAPABILITY_LENGTH) throw new Error('bad capability')
  if (id.length === 0 || id.length > MAX_ID_LENGTH) throw new Error('bad call id')
  if (target.length === 0 || target.length > 128) throw new Error('bad call target')
  if (message.flags > (CallFlag.cast | CallFlag.relayed)) throw new Error('unknown call flags')
  if (exceeds(message.payload, maxPayloadBytes)) throw new Error('call payload too large')
  return toJsonValue(JSON.parse(message.payload), 'call payload')
}

/** True when `text` takes more than `max` UTF-8 bytes (counted only when it might). */
export const exceeds = (text: string, max: number): boolean => text.length * 3 > max && byteLength(text) > max
