import { directEncoder, writePeer, type AnswerStatus } from '../replication/index.js'
import { Deadlines } from './deadlines.js'
import { sameProcess, type CallLink } from './pending-call.js'

/** An answer, as the `answer` message carries it. */
export interface ServedAnswer {
  readonly status: AnswerStatus
  readonly body: string
}

/** A call from a peer that this node's actor has not answered yet, or whose answer is kept for its copy. */
export interface ServedCall {
  readonly callId: number
  /** The caller: its node id and the client id of its process (a restart is another caller). */
  readonly nodeId: string
  readonly clientId: number
  /** The link the newest copy of the call came on: its answer goes there. */
  link: CallLink
  /** Its answer, once kept for the caller's next copy (the caller may not have taken it). */
  answer: ServedAnswer | undefined
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
  answer: ServedAnswer
}

const unlisted = { answer: undefined, slot: undefined, prevDue: undefined, nextDue: undefined }
/** How long an answer kept for a caller's copy of its call waits for that copy. */
export const KEEP_ANSWER_MS = 60_000
/** Most answers kept for copies at once: past it the oldest goes (its copy, if one comes, runs again). */
export const MAX_KEPT_ANSWERS = 1024
/** Most characters of the kept answers' bodies together: past it the oldest go the same way. */
export const MAX_KEPT_CHARS = 8 * 1024 * 1024

const send = (link: CallLink, callId: number, answer: ServedAnswer): void =>
  link.sendEncoded(writePeer.answer(directEncoder(), callId, answer.status, answer.body))

/**
 * The calls from peers this node's actors are running or have queued, by the caller's call id.
 * A caller whose link closed under a call cannot tell whether the call arrived, so it sends it
 * again, under the same call id, once it is linked again: when two nodes dial each other at
 * once (after a heal) the link the call went on may be closed as a duplicate (4409) right after
 * the call arrived. A copy of a call still in progress here joins it (its answer goes on the
 * new link) instead of running twice. A call answered after its link closed (its answer then
 * goes on the link that replaced it, which the caller may read only after it sent its copy),
 * and one whose answer was written as its link closed as a duplicate, keep their answer a
 * while (at most {@link MAX_KEPT_ANSWERS}): the copy gets it. A call answered on its own open
 * link, or lost with a link that was cut, runs again: calls are at least once across a lost
 * link (docs/routing.md).
 */
export class ServedCalls {
  /** Callers count call ids from 1, so an id may be in progress for several of them: chained by `sameId`. */
  #calls = new Map<number, ServedCall>()
  /**
   * An actor that never answers: the call is forgotten at its deadline (the caller gave up).
   * A kept answer: forgotten when its copy did not come in time.
   */
  #deadlines = new Deadlines<ServedCall>({ expire: (call) => this.#forget(call), unref: true })
  #link: (peerId: string) => CallLink | undefined
  /** Answers links could not send, until those links are down. */
  #unsent: Unsent[] = []
  /** The calls whose answer is kept, oldest first, and their bodies' characters together. */
  #kept = new Set<ServedCall>()
  #keptChars = 0
  #maxKept: number
  #maxKeptChars: number

  /**
   * `link` gives the open link to a peer, if any (where answers go once their own link closed);
   * `maxKept` and `maxKeptChars` bound the answers kept for copies ({@link MAX_KEPT_ANSWERS}).
   */
  constructor(options: { link: (peerId: string) => CallLink | undefined; maxKept?: number; maxKeptChars?: number }) {
    this.#link = options.link
    this.#maxKept = options.maxKept ?? MAX_KEPT_ANSWERS
    this.#maxKeptChars = options.maxKeptChars ?? MAX_KEPT_CHARS
  }

  /** Calls in progress. */
  get size(): number {
    return this.#deadlines.size - this.#kept.size
  }

  /** Answers kept for the callers' copies. */
  get kept(): number {
    return this.#kept.size
  }

  /**
   * Starts serving call `callId` that came on `link`, until `deadline`; undefined when that
   * caller's call is in progress already (it then answers on `link`) or was answered already
   * and its answer kept (sent on `link` now).
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
          this.#deadlines.delete(call)
          this.#forget(call)
          send(link, callId, kept)
        }
        return undefined
      }
    }
    if (this.#sendUnsent(callId, link)) return undefined
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
   * Sends the answer kept for call `callId` of `link`'s caller on `link` and forgets it, if
   * there is one: true when it did. For a copy of a call this node relays (its answer, relayed
   * back, is kept the same way when the link to the caller closed under it).
   */
  resend(callId: number, link: CallLink): boolean {
    const caller = link.remote
    if (!caller) return false
    for (let call = this.#calls.get(callId); call; call = call.sameId) {
      const kept = call.answer
      if (kept && call.nodeId === caller.nodeId && call.clientId === caller.clientId) {
        this.#deadlines.delete(call)
        this.#forget(call)
        send(link, callId, kept)
        return true
      }
    }
    return this.#sendUnsent(callId, link)
  }

  /**
   * The call was answered (or failed): sends `answer` on the link its newest copy came on or,
   * once that closed, on the link to the same caller that replaced it, and forgets the call.
   * In the second case the answer is also kept a while: the caller sends a copy as soon as it
   * sees the old link close, which may be before it reads this answer on the new one.
   */
  answer(call: ServedCall, answer: ServedAnswer): void {
    const link = call.link
    const now = link.isOpen || link.peerId === undefined ? undefined : this.#link(link.peerId)
    if (now?.isOpen && sameProcess(now, link)) {
      send(now, call.callId, answer)
      return this.#keep(call, answer)
    }
    this.#deadlines.delete(call)
    this.#forget(call)
    send(link, call.callId, answer)
  }

  /** An answer to call `callId` that `link` could not send: kept if the link turns out replaced ({@link linkDown}). */
  unsent(callId: number, link: CallLink, answer: ServedAnswer): void {
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
      const call = this.start(callId, link, Date.now() + KEEP_ANSWER_MS)
      if (call && call.nodeId !== '') this.#keep(call, answer)
    }
  }

  /** Forgets every call and kept answer. */
  clear(): void {
    this.#unsent = []
    this.#kept.clear()
    this.#keptChars = 0
    this.#deadlines.clear()
    this.#calls.clear()
  }

  /** Sends the answer to `callId` a link this node closed as a duplicate since could not send: true when it did. */
  #sendUnsent(callId: number, link: CallLink): boolean {
    if (this.#unsent.length === 0) return false
    const i = this.#unsent.findIndex((u) => u.callId === callId && u.link.draining && sameProcess(u.link, link))
    if (i < 0) return false
    send(link, callId, (this.#unsent.splice(i, 1)[0] as Unsent).answer)
    return true
  }

  /** Keeps `answer` for a copy of `call` (listed already), within the bounds: the oldest go first. */
  #keep(call: ServedCall, answer: ServedAnswer): void {
    // `moved`: the call did not run, so a copy may as well run (or be refused again).
    if (call.nodeId === '' || answer.status === 'moved' || answer.body.length > this.#maxKeptChars) {
      this.#deadlines.delete(call)
      return this.#forget(call)
    }
    call.answer = answer
    this.#kept.add(call)
    this.#keptChars += answer.body.length
    this.#deadlines.add(call, Date.now() + KEEP_ANSWER_MS)
    for (const oldest of this.#kept) {
      if (this.#kept.size <= this.#maxKept && this.#keptChars <= this.#maxKeptChars) break
      this.#deadlines.delete(oldest)
      this.#forget(oldest)
    }
  }

  #forget(call: ServedCall): void {
    if (call.answer && this.#kept.delete(call)) this.#keptChars -= call.answer.body.length
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
