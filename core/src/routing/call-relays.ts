import { CallFlag, directEncoder, writePeer, type CallMessage } from '../replication/index.js'
import { Deadlines } from './deadlines.js'
import { sameProcess, type CallLink } from './pending-call.js'
import { KEEP_ANSWER_MS, MAX_KEPT_ANSWERS, MAX_KEPT_CHARS, type ServedAnswer } from './served-calls.js'

/** How long past a relayed call's own deadline its relay waits for the answer. */
const RELAY_GRACE_MS = 1000

/**
 * Most characters of relayed calls' payloads a relay holds to send again (see `again`): past
 * it, a call is relayed without, and answered `owner_lost` if its link to the owner is replaced
 * under it, as before relays sent calls again. A deadline may be ten minutes away.
 */
export const MAX_HELD_PAYLOAD_CHARS = 8 * 1024 * 1024

interface Relay {
  from: CallLink
  fromId: number
  to: CallLink
  /** The call as this node sends it on (its own call id, marked relayed); its payload is held to send again. */
  message: CallMessage
  /** False when the payload was not held (over MAX_HELD_PAYLOAD_CHARS): the call cannot go again. */
  held: boolean
  /** When the caller stops waiting (ms since the epoch). */
  deadline: number
  /** Set once the link from the caller closed: the caller's process and call id, for its copy. */
  key: string | undefined
  /** The owner's answer, kept for the caller's copy once it could not go on the link the call came on. */
  answer: ServedAnswer | undefined
  slot: number | undefined
  prevDue: Relay | undefined
  nextDue: Relay | undefined
}

const send = (link: CallLink, callId: number, answer: ServedAnswer): void =>
  link.sendEncoded(writePeer.answer(directEncoder(), callId, answer.status, answer.body))
const lost: ServedAnswer = { status: 'owner_lost', body: 'the link to the owner closed' }

/**
 * The calls this node relays between two peers without a direct link (one hop, DESIGN §8):
 * each goes on under a call id of this node's, and its answer goes back under the caller's.
 * A relay does for the links on either side what callers and owners do (docs/routing.md):
 * when the link to the owner is replaced by a duplicate (4409) under a call, it takes the
 * answers that still come on the old link or on the one that replaced it, and once the old one
 * drained sends the call again, under the same call id, on the new one, where the owner joins
 * it to its run or answers it. When the link from the caller closes, the call stays: a copy
 * the caller sends again (same call id, same process) joins it instead of going on as a new
 * call, and its answer goes on the link to the caller that replaced the old one and is kept a
 * while for that copy.
 */
export class CallRelays {
  /** Relayed calls waiting for their answer, by this node's call id. */
  #relays = new Map<number, Relay>()
  /** Relayed calls whose link from the caller closed, by `key`, oldest first; and their kept answers' characters. */
  #orphans = new Map<string, Relay>()
  #keptChars = 0
  /** Characters of the payloads held to send calls again. */
  #heldChars = 0
  /** When a relayed call whose answer never came, or a kept answer, is forgotten. */
  #deadlines = new Deadlines<Relay>({ expire: (relay) => this.#forget(relay), unref: true })
  #link: (peerId: string) => CallLink | undefined

  /** `link` gives the open link to a peer, if any (where a call or an answer goes once its own link was replaced). */
  constructor(options: { link: (peerId: string) => CallLink | undefined }) {
    this.#link = options.link
  }

  /** Sends `message` (from `from`, for `to`'s node) on to `to` as call `callId`, marked relayed. */
  forward(message: CallMessage, from: CallLink, to: CallLink, callId: number, timeoutMs: number): void {
    const relayed = { ...message, flags: message.flags | CallFlag.relayed, timeoutMs }
    if ((message.flags & CallFlag.cast) !== 0) return to.sendEncoded(writePeer.call(directEncoder(), relayed))
    if (this.#orphans.size > 0 && this.#copy(message, from)) return
    relayed.callId = callId
    const deadline = Date.now() + timeoutMs
    const held = this.#heldChars + message.payload.length <= MAX_HELD_PAYLOAD_CHARS
    if (held) this.#heldChars += message.payload.length
    const relay: Relay = {
      from,
      fromId: message.callId,
      to,
      message: held ? relayed : { ...relayed, payload: '' },
      held,
      deadline,
      key: undefined,
      answer: undefined,
      slot: undefined,
      prevDue: undefined,
      nextDue: undefined,
    }
    this.#relays.set(callId, relay)
    this.#deadlines.add(relay, deadline + RELAY_GRACE_MS)
    to.sendEncoded(writePeer.call(directEncoder(), relayed))
  }

  /** Sends an answer back to the caller when it is one to a relayed call; false when it is not. */
  answer(message: ServedAnswer & { callId: number }, link: CallLink): boolean {
    const relay = this.#relays.get(message.callId)
    if (!relay) return false
    // The owner's answer may come on the link that replaced the duplicate the call went on.
    const to = relay.to
    if (to !== link && !(to.draining && sameProcess(to, link))) return true
    const back = this.#back(relay)
    if (back) send(back, relay.fromId, message)
    // `moved`: the call did not run, so a copy may as well go on.
    if (back === relay.from || relay.key === undefined || message.status === 'moved') {
      this.#forget(relay)
      return true
    }
    // The caller may send a copy before it reads this answer on its new link (or once linked again).
    this.#relays.delete(message.callId)
    this.#release(relay)
    relay.answer = { status: message.status, body: message.body }
    this.#keptChars += message.body.length
    this.#deadlines.add(relay, Date.now() + KEEP_ANSWER_MS)
    this.#bound()
    return true
  }

  /**
   * A link closed: calls relayed from it wait for their answer, for a copy from the caller;
   * calls relayed to it wait for its last answers when it closed as a duplicate
   * ({@link linkDrained}), else go again on the link to the same owner that replaced it, if one
   * is up, else are answered `owner_lost`.
   */
  linkDown(link: CallLink): void {
    for (const relay of [...this.#relays.values()]) {
      if (relay.from === link) this.#orphan(relay)
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
    this.#orphans.clear()
    this.#keptChars = 0
    this.#heldChars = 0
  }

  /** A copy of a call relayed from a link that closed since: joined to it (true), or answered with its kept answer. */
  #copy(message: CallMessage, from: CallLink): boolean {
    const remote = from.remote
    const fromId = message.callId
    const relay = remote && this.#orphans.get(`${remote.nodeId} ${remote.clientId} ${fromId}`)
    // A call sent again to another owner (after `moved`) is another attempt, not a copy.
    if (!relay || relay.message.target !== message.target) return false
    relay.from = from
    if (relay.answer === undefined) return true
    send(from, fromId, relay.answer)
    this.#forget(relay)
    return true
  }

  #orphan(relay: Relay): void {
    const remote = relay.from.remote
    if (!remote) return this.#forget(relay)
    const key = `${remote.nodeId} ${remote.clientId} ${relay.fromId}`
    const older = this.#orphans.get(key)
    if (older !== undefined && older !== relay) this.#forget(older)
    relay.key = key
    this.#orphans.set(key, relay)
    this.#bound()
  }

  /** The link the caller's answer goes on: the one the call came on, or the open one that replaced it. */
  #back(relay: Relay): CallLink | undefined {
    const from = relay.from
    if (from.isOpen) return from
    const now = from.peerId === undefined ? undefined : this.#link(from.peerId)
    return now?.isOpen && sameProcess(now, from) ? now : undefined
  }

  /** Sends a call whose link to the owner closed again, on the link to the same owner process, or answers it `owner_lost`. */
  #again(relay: Relay): void {
    const old = relay.to
    const now = old.peerId === undefined ? undefined : this.#link(old.peerId)
    const left = relay.deadline - Date.now()
    if (relay.held && now?.isOpen && now !== old && sameProcess(now, old) && left > 0) {
      relay.to = now
      relay.message.timeoutMs = left
      return now.sendEncoded(writePeer.call(directEncoder(), relay.message))
    }
    const back = this.#back(relay)
    if (back) send(back, relay.fromId, lost)
    this.#forget(relay)
  }

  /** At most MAX_KEPT_ANSWERS calls whose caller's link closed, and MAX_KEPT_CHARS of kept answers: the oldest go. */
  #bound(): void {
    for (const oldest of this.#orphans.values()) {
      if (this.#orphans.size <= MAX_KEPT_ANSWERS && this.#keptChars <= MAX_KEPT_CHARS) return
      this.#forget(oldest)
    }
  }

  /** Lets go of a relayed call's payload: it goes no more. */
  #release(relay: Relay): void {
    if (!relay.held) return
    this.#heldChars -= relay.message.payload.length
    relay.held = false
    relay.message = { ...relay.message, payload: '' }
  }

  #forget(relay: Relay): void {
    if (this.#relays.get(relay.message.callId) === relay) this.#relays.delete(relay.message.callId)
    if (relay.key !== undefined && this.#orphans.get(relay.key) === relay) this.#orphans.delete(relay.key)
    if (relay.answer) this.#keptChars -= relay.answer.body.length
    relay.answer = undefined
    this.#release(relay)
    this.#deadlines.delete(relay)
  }
}
