import type { Encoder } from 'lib0/encoding'
import type { JsonValue } from '../common/index.js'
import type { CallMessage } from '../replication/index.js'
import { MeshCallError } from './call-error.js'
import type { CallOptions } from './call-options.js'
import type { Expiring } from './deadlines.js'

/** A peer link as calls use it (`PeerLink` is one). */
export interface CallLink {
  readonly peerId: string | undefined
  /** The peer's node id and the client id of its process, once its hello came. */
  readonly remote: { readonly nodeId: string; readonly clientId: number } | undefined
  readonly isOpen: boolean
  /**
   * True while a link closed as a duplicate still takes the answers the peer sent on it before
   * closing it too: calls in flight on it wait for those (`Router.linkDrained`).
   */
  readonly draining: boolean
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
  /**
   * The call's id on the wire, from its first attempt over a link on (0 before): every attempt
   * sends it under the same id, so that an owner still running it joins the copy to the run.
   */
  callId: number
  /** The link the attempt in flight went over (undefined while none is), and the owner it went to. */
  via: CallLink | undefined
  target: string
  /** Relays that answered `unreachable` since the last routing change. */
  tried: Set<CallLink> | undefined
  /** The owner the call was lost from, once (one retry). */
  lost: { from: string; via: CallLink | undefined; version: number } | undefined
  done: boolean
}

/** True when two links are to the same process of the same node (a restart is another process). */
export const sameProcess = (a: CallLink, b: CallLink): boolean =>
  a.remote !== undefined && a.remote.nodeId === b.remote?.nodeId && a.remote.clientId === b.remote.clientId

/**
 * After a loss, a call goes again only once something changed: the owner, the placement, or
 * the link, to the owner or to the relay it went through (a relay's link replaced by a
 * duplicate: the same relay process, through the link that stayed).
 */
export const mayRetry = (
  pending: Pending,
  owner: string,
  host: {
    readonly id: string
    readonly members: { readonly version: number }
    link(peerId: string): CallLink | undefined
  },
): boolean => {
  const lost = pending.lost
  if (!lost) return true
  if (owner !== lost.from || host.members.version !== lost.version) return true
  const direct = owner === host.id ? undefined : host.link(owner)
  if (direct !== undefined && direct.isOpen && direct !== lost.via) return true
  const via = lost.via
  const relay = via?.peerId === undefined || via.peerId === owner ? undefined : host.link(via.peerId)
  return via !== undefined && relay !== undefined && relay.isOpen && relay !== via && sameProcess(relay, via)
}

/** The capability and id of a call's options, for logs. */
export const pendingCall = (options: CallOptions | undefined) => ({ capability: options?.capability, id: options?.id })

/** The error of a call whose capability nobody declares. */
export const noOwner = (call: { capability: string; id: string }): MeshCallError =>
  new MeshCallError('no_owner', `no live member declares the capability "${call.capability}"`, call)

/** Why a call failed `owner_lost`. */
export const lostMessage = (pending: Pending): string =>
  `the owner of ${pending.capability}/${pending.id} went away before answering`
