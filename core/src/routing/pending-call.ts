import type { Encoder } from 'lib0/encoding'
import type { JsonValue } from '../common/index.js'
import type { CallMessage } from '../replication/index.js'
import { MeshCallError } from './call-error.js'
import type { CallOptions } from './call-options.js'
import type { Expiring } from './deadlines.js'

/** A peer link as calls use it (`PeerLink` is one). */
export interface CallLink {
  readonly peerId: string | undefined
  readonly isOpen: boolean
  sendFrame(frame: Uint8Array<ArrayBuffer>): void
  /** Sends the frame an encoder holds (`writePeer`), copied out of it at once. */
  sendEncoded(encoder: Encoder): void
}

/**
 * A call the router waits on: where it went, and whether it was lost once already. Flat, so
 * that a call is one object (the router makes tens of thousands a second); it is also the
 * `call` message its attempts send (`callId`, `target`, `flags`, `timeoutMs` of the attempt).
 */
export interface Pending extends Expiring, CallMessage {
  readonly capability: string
  readonly id: string
  readonly value: JsonValue
  readonly payload: string
  readonly cast: boolean
  /** The call's own timeout; `timeoutMs` is what was left of it when the last attempt went out. */
  readonly requestedMs: number
  readonly deadline: number
  readonly startedAt: number
  readonly resolve: (answer: JsonValue) => void
  readonly reject: (error: Error) => void
  /** The call id of the attempt in flight over a link; 0 while none is. */
  callId: number
  /** The link that attempt went over, and the owner it went to. */
  via: CallLink | undefined
  target: string
  /** Relays that answered `unreachable` since the last routing change. */
  tried: Set<CallLink> | undefined
  /** The owner the call was lost from, once (one retry). */
  lost: { from: string; via: CallLink | undefined; version: number } | undefined
  done: boolean
}

/** The capability and id of a call's options, for logs. */
export const pendingCall = (options: CallOptions | undefined) => ({ capability: options?.capability, id: options?.id })

/** The error of a call whose capability nobody declares. */
export const noOwner = (call: { capability: string; id: string }): MeshCallError =>
  new MeshCallError('no_owner', `no live member declares the capability "${call.capability}"`, call)

/** Why a call failed `owner_lost`. */
export const lostMessage = (pending: Pending): string =>
  `the owner of ${pending.capability}/${pending.id} went away before answering`
