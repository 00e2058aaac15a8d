import type { JsonValue } from '../common/index.js'
import { MeshCallError } from './call-error.js'
import type { CallOptions } from './call-options.js'

/** A peer link as calls use it (`PeerLink` is one). */
export interface CallLink {
  readonly peerId: string | undefined
  readonly isOpen: boolean
  sendFrame(frame: Uint8Array<ArrayBuffer>): void
}

/** A call the router waits on: where it went, and whether it was lost once already. */
export interface Pending {
  readonly call: { capability: string; id: string }
  readonly value: JsonValue
  readonly payload: string
  readonly cast: boolean
  readonly deadline: number
  readonly startedAt: number
  readonly resolve: (answer: JsonValue) => void
  readonly reject: (error: Error) => void
  timer: ReturnType<typeof setTimeout> | undefined
  /** Where the current attempt went: its call id and link, or this node. */
  attempt: { callId: number; via: CallLink; target: string } | 'local' | undefined
  /** Relays that answered `unreachable` since the last routing change. */
  tried: Set<CallLink>
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
  `the owner of ${pending.call.capability}/${pending.call.id} went away before answering`
