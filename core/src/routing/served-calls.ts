import { Deadlines } from './deadlines.js'
import { sameProcess, type CallLink } from './pending-call.js'

/** A call from a peer that this node's actor has not answered yet. */
export interface ServedCall {
  readonly callId: number
  /** The caller: its node id and the client id of its process (a restart is another caller). */
  readonly nodeId: string
  readonly clientId: number
  /** The link the newest copy of the call came on: its answer goes there. */
  link: CallLink
  /** The next call in progress with the same call id, from another caller. */
  sameId: ServedCall | undefined
  slot: number | undefined
  prevDue: ServedCall | undefined
  nextDue: ServedCall | undefined
}

const unlisted = { slot: undefined, prevDue: undefined, nextDue: undefined }

/**
 * The calls from peers this node's actors are running or have queued, by the caller's call id.
 * A caller whose link closed under a call cannot tell whether the call arrived, so it sends it
 * again, under the same call id, once it is linked again: when two nodes dial each other at
 * once (after a heal) the link the call went on may be closed as a duplicate (4409) right after
 * the call arrived. A copy of a call still in progress here joins it (its answer goes on the
 * new link) instead of running twice. A call answered already runs again: calls are at least
 * once across a lost link (docs/routing.md).
 */
export class ServedCalls {
  /** Callers count call ids from 1, so an id may be in progress for several of them: chained by `sameId`. */
  #calls = new Map<number, ServedCall>()
  /** An actor that never answers: the call is forgotten at its deadline (the caller gave up). */
  #deadlines = new Deadlines<ServedCall>({ expire: (call) => this.#forget(call), unref: true })
  #link: (peerId: string) => CallLink | undefined

  /** `link` gives the open link to a peer, if any (where answers go once their own link closed). */
  constructor(options: { link: (peerId: string) => CallLink | undefined }) {
    this.#link = options.link
  }

  /** Calls in progress. */
  get size(): number {
    return this.#deadlines.size
  }

  /**
   * Starts serving call `callId` that came on `link`, until `deadline`; undefined when that
   * caller's call is in progress already (it then answers on `link`).
   */
  start(callId: number, link: CallLink, deadline: number): ServedCall | undefined {
    const caller = link.remote
    if (!caller) return { callId, nodeId: '', clientId: 0, link, sameId: undefined, ...unlisted }
    const first = this.#calls.get(callId)
    for (let call = first; call; call = call.sameId) {
      if (call.nodeId === caller.nodeId && call.clientId === caller.clientId) {
        call.link = link
        return undefined
      }
    }
    const call: ServedCall = {
      callId,
      nodeId: caller.nodeId,
      clientId: caller.clientId,
      link,
      sameId: first,
      ...unlisted,
    }
    this.#calls.set(callId, call)
    this.#deadlines.add(call, deadline)
    return call
  }

  /**
   * The call was answered (or failed): forgets it and returns the link its answer goes on, the
   * one its newest copy came on or, once that closed, the link to the same caller that replaced it.
   */
  finish(call: ServedCall): CallLink {
    this.#deadlines.delete(call)
    this.#forget(call)
    const link = call.link
    const now = link.isOpen || link.peerId === undefined ? undefined : this.#link(link.peerId)
    return now?.isOpen && sameProcess(now, link) ? now : link
  }

  /** Forgets every call. */
  clear(): void {
    this.#deadlines.clear()
    this.#calls.clear()
  }

  #forget(call: ServedCall): void {
    let first = this.#calls.get(call.callId)
    if (first === call) {
      first = call.sameId
      if (first) this.#calls.set(call.callId, first)
      else this.#calls.delete(call.callId)
      return
    }
    for (let before = first; before; before = before.sameId) {
      if (before.sameId === call) {
        before.sameId = call.sameId
        return
      }
    }
  }
}
