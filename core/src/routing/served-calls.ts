import { directEncoder, writePeer, type AnswerStatus } from '../replication/index.js'
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
  /** An answer written as the link closed under it (never sent), for the caller's next copy. */
  answer: { status: AnswerStatus; body: string } | undefined
  /** The next call in progress with the same call id, from another caller. */
  sameId: ServedCall | undefined
  slot: number | undefined
  prevDue: ServedCall | undefined
  nextDue: ServedCall | undefined
}

/** An answer a link could not send, until that link is down. */
interface Unsent {
  callId: number
  link: CallLink
  answer: { status: AnswerStatus; body: string }
}

const unlisted = { answer: undefined, slot: undefined, prevDue: undefined, nextDue: undefined }
/** How long an answer that could not be sent waits for the caller to send its call again. */
const KEEP_UNSENT_MS = 60_000

/**
 * The calls from peers this node's actors are running or have queued, by the caller's call id.
 * A caller whose link closed under a call cannot tell whether the call arrived, so it sends it
 * again, under the same call id, once it is linked again: when two nodes dial each other at
 * once (after a heal) the link the call went on may be closed as a duplicate (4409) right after
 * the call arrived. A copy of a call still in progress here joins it (its answer goes on the
 * new link) instead of running twice, and one whose answer was written as its link closed
 * (the caller's close came in the same tick) gets that answer. A call answered already runs
 * again: calls are at least once across a lost link (docs/routing.md).
 */
export class ServedCalls {
  /** Callers count call ids from 1, so an id may be in progress for several of them: chained by `sameId`. */
  #calls = new Map<number, ServedCall>()
  /** An actor that never answers: the call is forgotten at its deadline (the caller gave up). */
  #deadlines = new Deadlines<ServedCall>({ expire: (call) => this.#forget(call), unref: true })
  #link: (peerId: string) => CallLink | undefined
  /** Answers links could not send, until those links are down. */
  #unsent: Unsent[] = []

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
        const kept = call.answer
        if (kept) {
          this.finish(call)
          link.sendEncoded(writePeer.answer(directEncoder(), callId, kept.status, kept.body))
        }
        return undefined
      }
    }
    // Its answer could not go on a link this node closed as a duplicate since.
    const unsent =
      this.#unsent.length === 0
        ? -1
        : this.#unsent.findIndex((u) => u.callId === callId && u.link.draining && sameProcess(u.link, link))
    if (unsent >= 0) {
      const { answer } = this.#unsent.splice(unsent, 1)[0] as Unsent
      link.sendEncoded(writePeer.answer(directEncoder(), callId, answer.status, answer.body))
      return undefined
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

  /** An answer to call `callId` that `link` could not send: kept if the link turns out replaced ({@link linkDown}). */
  unsent(callId: number, link: CallLink, answer: { status: AnswerStatus; body: string }): void {
    this.#unsent.push({ callId, link, answer: { status: answer.status, body: answer.body } })
  }

  /**
   * A link closed. The answers it could not send wait (a while) for the caller's next copy when
   * this node closed it as a duplicate (the caller stays linked through another link); else
   * they are dropped, and the call runs again when it comes back (at least once).
   */
  linkDown(link: CallLink): void {
    const lost = this.#unsent.filter((u) => u.link === link)
    if (lost.length === 0) return
    this.#unsent = this.#unsent.filter((u) => u.link !== link)
    // Only when this node closed it as a duplicate itself: closed by the caller, it may have
    // been cut (the link that replaced it may be up already after a quick heal).
    if (!link.draining) return
    for (const { callId, answer } of lost) {
      const call = this.start(callId, link, Date.now() + KEEP_UNSENT_MS)
      if (call && call.nodeId !== '') call.answer = answer
    }
  }

  /** Forgets every call. */
  clear(): void {
    this.#unsent = []
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
