import { CallFlag, directEncoder, writePeer, type AnswerStatus, type CallMessage } from '../replication/index.js'
import { Deadlines } from './deadlines.js'
import { sameProcess, type CallLink } from './pending-call.js'

/** How long past a relayed call's own deadline its relay waits for the answer. */
const RELAY_GRACE_MS = 1000

interface Relay {
  from: CallLink
  fromId: number
  to: CallLink
  /** The call as this node sends it on (its own call id, marked relayed), to send again. */
  message: CallMessage
  /** When the caller stops waiting (ms since the epoch). */
  deadline: number
  slot: number | undefined
  prevDue: Relay | undefined
  nextDue: Relay | undefined
}

/**
 * The calls this node relays between two peers without a direct link (one hop, DESIGN §8):
 * each goes on under a call id of this node's, and its answer goes back under the caller's.
 * When the link to the owner is replaced by a duplicate (4409) under a call, the relay does
 * what a caller does (docs/routing.md): it takes the answers that still come on the old link
 * or on the one that replaced it, and once the old one drained sends the call again, under the
 * same call id, on the new one, where the owner joins it to its run or answers it.
 */
export class CallRelays {
  #relays = new Map<number, Relay>()
  /** When a relayed call whose answer never came is forgotten. */
  #deadlines = new Deadlines<Relay>({ expire: (relay) => this.#relays.delete(relay.message.callId), unref: true })
  #link: (peerId: string) => CallLink | undefined

  /** `link` gives the open link to a peer, if any (where a call goes again once its own link was replaced). */
  constructor(options: { link: (peerId: string) => CallLink | undefined }) {
    this.#link = options.link
  }

  /** Sends `message` (from `from`, for `to`'s node) on to `to` as call `callId`, marked relayed. */
  forward(message: CallMessage, from: CallLink, to: CallLink, callId: number, timeoutMs: number): void {
    const relayed = { ...message, flags: message.flags | CallFlag.relayed, timeoutMs }
    if ((message.flags & CallFlag.cast) !== 0) return to.sendEncoded(writePeer.call(directEncoder(), relayed))
    relayed.callId = callId
    const deadline = Date.now() + timeoutMs
    const relay: Relay = {
      from,
      fromId: message.callId,
      to,
      message: relayed,
      deadline,
      slot: undefined,
      prevDue: undefined,
      nextDue: undefined,
    }
    this.#relays.set(callId, relay)
    this.#deadlines.add(relay, deadline + RELAY_GRACE_MS)
    to.sendEncoded(writePeer.call(directEncoder(), relayed))
  }

  /** Sends an answer back to the caller when it is one to a relayed call; false when it is not. */
  answer(message: { callId: number; status: AnswerStatus; body: string }, link: CallLink): boolean {
    const relay = this.#relays.get(message.callId)
    if (!relay) return false
    // The owner's answer may come on the link that replaced the duplicate the call went on.
    const to = relay.to
    if (to !== link && !(to.draining && sameProcess(to, link))) return true
    this.#forget(relay)
    relay.from.sendEncoded(writePeer.answer(directEncoder(), relay.fromId, message.status, message.body))
    return true
  }

  /**
   * A link closed: calls relayed from it are forgotten; calls relayed to it wait for its last
   * answers when it closed as a duplicate ({@link linkDrained}), else go again on the link to
   * the same owner that replaced it, if one is up, else are answered `owner_lost`.
   */
  linkDown(link: CallLink): void {
    for (const relay of [...this.#relays.values()]) {
      if (relay.from === link) this.#forget(relay)
      else if (relay.to === link && !link.draining) this.#again(relay)
    }
  }

  /** A duplicate link can bring no more answers: the calls relayed to it still waiting go again. */
  linkDrained(link: CallLink): void {
    for (const relay of [...this.#relays.values()]) if (relay.to === link) this.#again(relay)
  }

  /** Forgets every relayed call. */
  clear(): void {
    this.#deadlines.clear()
    this.#relays.clear()
  }

  /** Sends a call whose link to the owner closed again, on the link to the same owner process, or answers it `owner_lost`. */
  #again(relay: Relay): void {
    const old = relay.to
    const now = old.peerId === undefined ? undefined : this.#link(old.peerId)
    const left = relay.deadline - Date.now()
    if (now?.isOpen && now !== old && sameProcess(now, old) && left > 0) {
      relay.to = now
      relay.message.timeoutMs = left
      return now.sendEncoded(writePeer.call(directEncoder(), relay.message))
    }
    this.#forget(relay)
    relay.from.sendEncoded(
      writePeer.answer(directEncoder(), relay.fromId, 'owner_lost', 'the link to the owner closed'),
    )
  }

  #forget(relay: Relay): void {
    this.#relays.delete(relay.message.callId)
    this.#deadlines.delete(relay)
  }
}
