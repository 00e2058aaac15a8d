import { directEncoder, writePeer, type AnswerStatus } from '../replication/index.js'
import { Deadlines } from './deadlines.js'
import { sameProcess, type CallLink } from './pending-call.js'
import { RecentList, type Recent } from './recent-list.js'

/** An answer, as the `answer` message carries it. */
export interface ServedAnswer {
  readonly status: AnswerStatus
  readonly body: string
}

/**
 * A call from a peer that this node's actor has not answered yet, or whose answer is kept for
 * its copy, or was sent lately on an open link (the `Recent` fields list it among those).
 */
export interface ServedCall extends Recent<ServedCall> {
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

const unlisted = {
  answer: undefined,
  slot: undefined,
  prevDue: undefined,
  nextDue: undefined,
  older: undefined,
  newer: undefined,
  listed: false,
}
/** How long an answer kept for a caller's copy of its call waits for that copy. */
export const KEEP_ANSWER_MS = 60_000
/** Most answers kept for copies at once: past it the oldest goes (its copy, if one comes, runs again). */
export const MAX_KEPT_ANSWERS = 1024
/** Most characters of the kept answers' bodies together: past it the oldest go the same way. */
export const MAX_KEPT_CHARS = 8 * 1024 * 1024
/** Most answers sent on open links remembered at once, in case their link closes before the caller read them. */
export const MAX_RECENT_ANSWERS = 1024
/** Most characters of those answers' bodies together (a larger answer is not remembered). */
export const MAX_RECENT_CHARS = 1024 * 1024

const send = (link: CallLink, callId: number, answer: ServedAnswer): void =>
  link.sendEncoded(writePeer.answer(directEncoder(), callId, answer.status, answer.body))

/**
 * The calls from peers this node's actors are running or have queued, by the caller's call id.
 * A caller whose link closed under a call cannot tell whether the call arrived, so it sends it
 * again, under the same call id, once it is linked again: when two nodes dial each other at
 * once (after a heal) the link the call went on may be closed as a duplicate (4409) right after
 * the call arrived. A copy of a call still in progress here joins it (its answer goes on the
 * new link) instead of running twice. The answer of a call a copy may come for is kept a
 * while (at most {@link MAX_KEPT_ANSWERS}), and the copy gets it instead of a second run: one
 * answered after its link closed (sent on the link that replaced it, which the caller may read
 * only after it sent its copy, or not sent at all while no link replaced it: the link was cut,
 * or the caller's close of a duplicate came before the link that replaced it was up here), and
 * one written on a link that then closed, whatever closed it: the caller may have closed it
 * before reading the answer (a cut throws away what is still on the way), and it cannot tell
 * that from an answer never sent. For that last case the answers sent on open links are
 * remembered lately ({@link MAX_RECENT_ANSWERS}); a link going down keeps those it carried.
 * Past the bounds, a copy runs again: calls are at least once across a lost link (docs/routing.md).
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
  /** The answers sent lately on open links, oldest first, and their bodies' characters together. */
  #recent = new RecentList<ServedCall>()
  #recentChars = 0
  #maxRecent: number
  #maxRecentChars: number

  /**
   * `link` gives the open link to a peer, if any (where answers go once their own link closed);
   * `maxKept` and `maxKeptChars` bound the answers kept for copies ({@link MAX_KEPT_ANSWERS}),
   * `maxRecent` and `maxRecentChars` those remembered after they went on an open link.
   */
  constructor(options: {
    link: (peerId: string) => CallLink | undefined
    maxKept?: number
    maxKeptChars?: number
    maxRecent?: number
    maxRecentChars?: number
  }) {
    this.#link = options.link
    this.#maxKept = options.maxKept ?? MAX_KEPT_ANSWERS
    this.#maxKeptChars = options.maxKeptChars ?? MAX_KEPT_CHARS
    this.#maxRecent = options.maxRecent ?? MAX_RECENT_ANSWERS
    this.#maxRecentChars = options.maxRecentChars ?? MAX_RECENT_CHARS
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
        if (call.answer) this.#sendAgain(call, call.answer, link)
        else call.link = link
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
        this.#sendAgain(call, kept, link)
        return true
      }
    }
    return this.#sendUnsent(callId, link)
  }

  /**
   * Answers call `callId` of `link`'s caller, for a shard not (or no longer) this node's,
   * `moved`; a copy of a call this node ran before the shard moved gets that run's answer
   * instead (kept for it), so that the call does not run a second time on the new owner.
   */
  moved(callId: number, link: CallLink): void {
    if (!this.resend(callId, link)) send(link, callId, { status: 'moved', body: '' })
  }

  /**
   * The call was answered (or failed): sends `answer` on the link its newest copy came on and
   * remembers it lately (that link may close before the caller read it); once that link closed,
   * sends it on the link to the same caller that replaced it, if one is up, and keeps it a while:
   * the caller sends a copy as soon as it sees the old link close, which may be before it reads
   * this answer on the new one, or before any link to it is back.
   */
  answer(call: ServedCall, answer: ServedAnswer): void {
    const link = call.link
    this.#deadlines.delete(call)
    if (link.isOpen) {
      send(link, call.callId, answer)
      return this.#remember(call, answer)
    }
    const now = link.peerId === undefined ? undefined : this.#link(link.peerId)
    if (now?.isOpen && sameProcess(now, link)) send(now, call.callId, answer)
    this.#keep(call, answer)
  }

  /** An answer to call `callId` that `link` could not send: kept if the link turns out replaced ({@link linkDown}). */
  unsent(callId: number, link: CallLink, answer: ServedAnswer): void {
    this.#unsent.push({ callId, link, answer: { status: answer.status, body: answer.body } })
  }

  /**
   * A link closed: the answers it carried lately, and those it could not send, wait (a while)
   * for the caller's copy. Whatever closed it (a duplicate, a cut, the caller), the caller may
   * not have read them, and it sends a copy of each call it still waits on once linked again.
   */
  linkDown(link: CallLink): void {
    for (const call of this.#recent) if (call.link === link) this.#keep(call, call.answer as ServedAnswer)
    const lost = this.#unsent.filter((u) => u.link === link)
    if (lost.length === 0) return
    this.#unsent = this.#unsent.filter((u) => u.link !== link)
    const caller = link.remote
    if (!caller) return
    for (const { callId, answer } of lost) {
      // An answer of this node's own actor is kept already (above); a relayed one is not.
      if (this.#find(callId, caller)) continue
      const call: ServedCall = {
        callId,
        nodeId: caller.nodeId,
        clientId: caller.clientId,
        link,
        sameId: undefined,
        ...unlisted,
      }
      call.sameId = this.#calls.get(callId)
      this.#calls.set(callId, call)
      this.#keep(call, answer)
    }
  }

  /** Forgets every call and kept answer. */
  clear(): void {
    this.#unsent = []
    this.#kept.clear()
    this.#keptChars = 0
    this.#recent = new RecentList<ServedCall>()
    this.#recentChars = 0
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

  /** The call of `caller` with `callId`, in progress or answered, if this node still knows it. */
  #find(callId: number, caller: { nodeId: string; clientId: number }): ServedCall | undefined {
    for (let call = this.#calls.get(callId); call; call = call.sameId) {
      if (call.nodeId === caller.nodeId && call.clientId === caller.clientId) return call
    }
    return undefined
  }

  /**
   * Remembers `answer`, just sent on the open link of `call` (listed already), among the latest
   * ({@link MAX_RECENT_ANSWERS}): should that link close, it is kept for the copy. The oldest go first.
   */
  #remember(call: ServedCall, answer: ServedAnswer): void {
    this.#unlist(call)
    if (call.nodeId === '' || answer.status === 'moved' || answer.body.length > this.#maxRecentChars) {
      return this.#forget(call)
    }
    call.answer = answer
    this.#recent.touch(call)
    this.#recentChars += answer.body.length
    for (const oldest of this.#recent) {
      if (this.#recent.size <= this.#maxRecent && this.#recentChars <= this.#maxRecentChars) break
      this.#forget(oldest)
    }
  }

  /** Keeps `answer` for a copy of `call` (listed already), within the bounds: the oldest go first. */
  #keep(call: ServedCall, answer: ServedAnswer): void {
    this.#unlist(call)
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

  /**
   * Sends the answer of `call` to its copy that came on `link`, and goes on remembering it for
   * that link as for the first: should this link close too before the caller read it (a heal
   * cut again, a duplicate settled), the next copy gets it again instead of a second run.
   */
  #sendAgain(call: ServedCall, answer: ServedAnswer, link: CallLink): void {
    call.link = link
    send(link, call.callId, answer)
    if (!link.isOpen) return this.#keep(call, answer)
    this.#deadlines.delete(call)
    this.#remember(call, answer)
  }

  /** Takes `call` off the answers remembered and kept (it stays findable until {@link #forget}). */
  #unlist(call: ServedCall): void {
    const chars = call.answer?.body.length ?? 0
    if (call.listed) {
      this.#recent.delete(call)
      this.#recentChars -= chars
    }
    if (this.#kept.delete(call)) this.#keptChars -= chars
  }

  #forget(call: ServedCall): void {
    this.#unlist(call)
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
