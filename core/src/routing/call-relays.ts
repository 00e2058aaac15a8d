import { CallFlag, directEncoder, writePeer, type AnswerStatus, type CallMessage } from '../replication/index.js'
import { Deadlines } from './deadlines.js'
import type { CallLink } from './pending-call.js'

/** How long past a relayed call's own deadline its relay waits for the answer. */
const RELAY_GRACE_MS = 1000

interface Relay {
  callId: number
  from: CallLink
  fromId: number
  to: CallLink
  slot: number | undefined
  prevDue: Relay | undefined
  nextDue: Relay | undefined
}

/**
 * The calls this node relays between two peers without a direct link (one hop, DESIGN §8):
 * each goes on under a call id of this node's, and its answer goes back under the caller's.
 */
export class CallRelays {
  #relays = new Map<number, Relay>()
  /** When a relayed call whose answer never came is forgotten. */
  #deadlines = new Deadlines<Relay>({ expire: (relay) => this.#relays.delete(relay.callId), unref: true })

  /** Sends `message` (from `from`, for `to`'s node) on to `to` as call `callId`, marked relayed. */
  forward(message: CallMessage, from: CallLink, to: CallLink, callId: number, timeoutMs: number): void {
    const relayed = { ...message, flags: message.flags | CallFlag.relayed, timeoutMs }
    if ((message.flags & CallFlag.cast) !== 0) return to.sendEncoded(writePeer.call(directEncoder(), relayed))
    const relay: Relay = {
      callId,
      from,
      fromId: message.callId,
      to,
      slot: undefined,
      prevDue: undefined,
      nextDue: undefined,
    }
    this.#relays.set(callId, relay)
    this.#deadlines.add(relay, Date.now() + timeoutMs + RELAY_GRACE_MS)
    to.sendEncoded(writePeer.call(directEncoder(), { ...relayed, callId }))
  }

  /** Sends an answer back to the caller when it is one to a relayed call; false when it is not. */
  answer(message: { callId: number; status: AnswerStatus; body: string }, link: CallLink): boolean {
    const relay = this.#relays.get(message.callId)
    if (!relay) return false
    if (relay.to !== link) return true
    this.#forget(relay)
    relay.from.sendEncoded(writePeer.answer(directEncoder(), relay.fromId, message.status, message.body))
    return true
  }

  /** A link closed: calls relayed from it are forgotten, calls relayed to it answered `owner_lost`. */
  linkDown(link: CallLink): void {
    for (const relay of [...this.#relays.values()]) {
      if (relay.to !== link && relay.from !== link) continue
      this.#forget(relay)
      if (relay.to === link)
        relay.from.sendEncoded(
          writePeer.answer(directEncoder(), relay.fromId, 'owner_lost', 'the link to the owner closed'),
        )
    }
  }

  /** Forgets every relayed call. */
  clear(): void {
    this.#deadlines.clear()
    this.#relays.clear()
  }

  #forget(relay: Relay): void {
    this.#relays.delete(relay.callId)
    this.#deadlines.delete(relay)
  }
}
