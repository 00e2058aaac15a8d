import { MeshError, toJsonValue, type JsonValue, type Logger, type Metrics } from '../common/index.js'
import { CallFlag, directEncoder, writePeer, type AnswerStatus, type CallMessage } from '../replication/index.js'
import { Actors, ShardMoved, type ActorFactory, type ActorReply } from './actors.js'
import { MeshCallError, type CallErrorCode } from './call-error.js'
import { exceeds, checkCallMessage, checkCallOptions, MAX_CALL_TIMEOUT_MS, type CallOptions } from './call-options.js'
import { CallRelays } from './call-relays.js'
import { Deadlines } from './deadlines.js'
import { InflightCalls } from './inflight.js'
import {
  lostMessage,
  mayRetry,
  noOwner,
  pendingCall,
  sameProcess,
  type CallLink,
  type Pending,
} from './pending-call.js'
import { Placement, type PlacementHost } from './placement.js'
import { ServedCalls, type ServedAnswer } from './served-calls.js'

/** The longest error message taken from a peer's answer. */
const MAX_ERROR_TEXT = 1000
/** How long a closing node waits for its actors' calls in progress and `stop` hooks. */
const STOP_TIMEOUT_MS = 2000
/** Room for the rest of a `call` frame beside its payload. */
const FRAME_OVERHEAD = 4096

/** What the router needs of the node around it. */
export interface RouterHost {
  readonly id: string
  readonly logger: Logger
  /** The peer frame limit: payloads and answers must fit in one frame. */
  readonly maxMessageBytes: number
  /** Most live actors (`limits.maxActors`). */
  readonly maxActors: number
  /** Membership, as placement reads it. */
  readonly members: PlacementHost
  /** The open link to a peer, if any. */
  link(peerId: string): CallLink | undefined
  links(): Iterable<CallLink>
  /** Where call counts and latencies go (`/mesh/api/metrics`). */
  readonly metrics: Metrics
}

/**
 * Capability routing (DESIGN §8, docs/routing.md): `call` and `cast` go to the owner of the
 * id's shard, over a direct peer link or relayed once by a linked peer; the owner runs them
 * on the id's actor. A call lost with its owner, or refused because the shard moved, waits
 * until the placement changes and is sent once more.
 */
export class Router {
  readonly placement: Placement
  readonly actors: Actors
  #host: RouterHost
  #nextId = 1
  #inflight = new InflightCalls<Pending>()
  #parked = new Set<Pending>()
  #relays: CallRelays
  #served: ServedCalls
  /** When each waiting call times out: one timer for all of them. */
  #deadlines = new Deadlines<Pending>({ expire: (pending) => this.#expired(pending) })
  #waking = false
  #closing = false
  /** What the last `new Promise(this.#capture)` was given: no executor closure per call. */
  #resolve: (answer: JsonValue) => void = () => {}
  #reject: (error: Error) => void = () => {}
  #capture = (resolve: (answer: JsonValue) => void, reject: (error: Error) => void): void => {
    this.#resolve = resolve
    this.#reject = reject
  }

  constructor(host: RouterHost) {
    this.#host = host
    this.placement = new Placement(host.members)
    this.#served = new ServedCalls({ link: (peerId) => host.link(peerId) })
    this.#relays = new CallRelays({ link: (peerId) => host.link(peerId) })
    this.actors = new Actors({
      logger: host.logger,
      maxActors: host.maxActors,
      failed: (where) => host.metrics.failed(where),
    })
  }

  /** The largest JSON payload or answer, in UTF-8 bytes. */
  get maxPayloadBytes(): number {
    return Math.max(1024, this.#host.maxMessageBytes - FRAME_OVERHEAD)
  }

  /** Id of the member that owns `id` of `capability`, or undefined. */
  ownerOf(capability: string, id: string): string | undefined {
    return this.placement.ownerOf(capability, id)
  }

  /** Runs a call on the owner's actor and resolves with its answer. */
  call(options: CallOptions): Promise<JsonValue> {
    const answer = new Promise<JsonValue>(this.#capture)
    const reject = this.#reject
    try {
      const pending = this.#pending(options, false, this.#resolve, reject)
      this.#host.metrics.calls++
      this.#route(pending)
    } catch (error) {
      reject(error as Error)
    }
    return answer
  }

  /** Sends a call whose answer nobody waits for; throws at once when nobody owns it. */
  cast(options: CallOptions): void {
    const log = (error: Error) =>
      this.#host.logger.debug('cast not delivered', { ...pendingCall(options), error: error.message })
    const pending = this.#pending(options, true, () => {}, log)
    if (this.placement.ownerOf(pending.capability, pending.id) === undefined) {
      this.#finish(pending)
      throw noOwner(pending)
    }
    this.#host.metrics.casts++
    this.#route(pending)
  }

  /** Registers how actors of a capability start on this node. */
  register(capability: string, factory: ActorFactory): void {
    this.actors.register(capability, factory)
  }

  /** Membership moved: stop the actors whose shard went elsewhere, route the waiting calls. */
  placementChanged(): void {
    const self = this.#host.id
    this.actors.retire((capability, id) => this.placement.ownerOf(capability, id) !== self)
    this.#wake()
  }

  /** A link came up: waiting calls may now reach their owner. */
  linkUp(): void {
    this.#wake()
  }

  /** A link closed: its calls are lost (on a duplicate, once {@link linkDrained}); the calls relayed over it go again or fail (CallRelays). */
  linkDown(link: CallLink): void {
    this.#relays.linkDown(link)
    this.#served.linkDown(link)
    for (const pending of this.#parked) pending.tried?.delete(link)
    if (!link.draining) this.linkDrained(link)
  }

  /** A duplicate link can bring no more answers: its calls still waiting are lost (relayed ones go again). */
  linkDrained(link: CallLink): void {
    this.#relays.linkDrained(link)
    for (const pending of this.#inflight.values()) {
      if (pending.via !== link) continue
      this.#inflight.delete(pending.callId)
      pending.via = undefined
      this.#lose(pending, pending.target, link, true)
    }
  }

  /**
   * A `call` from a peer. Anything malformed throws, which closes that link; a well-formed
   * call always gets an answer (unless it is a cast) and never throws out of here later.
   */
  receiveCall(message: CallMessage, link: CallLink): void {
    const { capability, id, target, callId } = message
    const value = checkCallMessage(message, this.maxPayloadBytes)
    const cast = (message.flags & CallFlag.cast) !== 0
    const timeoutMs = Math.min(message.timeoutMs, MAX_CALL_TIMEOUT_MS)
    if (target !== this.#host.id) return this.#relay(message, link, cast, timeoutMs)
    if (this.#closing || this.placement.ownerOf(capability, id) !== this.#host.id) {
      return cast ? undefined : this.#served.moved(callId, link)
    }
    // A copy of a call in progress here (sent again after its link closed) is answered with it.
    const served = cast ? undefined : this.#served.start(callId, link, Date.now() + timeoutMs)
    if (!cast && !served) {
      this.#host.metrics.callsJoined++
      return
    }
    this.#host.metrics.callsServed++
    const reply: ActorReply = (failure, result) => {
      if (!served) {
        if (failure && !(failure instanceof ShardMoved))
          this.#host.logger.debug('cast failed', { capability, id, error: failure.message })
        return
      }
      if (failure === undefined) {
        const text = JSON.stringify(result)
        const tooLarge = exceeds(text, this.maxPayloadBytes)
        const body = tooLarge ? `the answer is larger than ${this.maxPayloadBytes} bytes` : text
        return this.#served.answer(served, { status: tooLarge ? 'actor_failed' : 'ok', body })
      }
      if (failure instanceof ShardMoved) return this.#served.answer(served, { status: 'moved', body: '' })
      const code = failure instanceof MeshCallError ? failure.code : 'actor_failed'
      this.#served.answer(served, { status: code, body: failure.message })
    }
    this.actors.run(capability, id, value, Date.now() + timeoutMs, reply)
  }

  /** An answer `link` could not send (its socket was closing): the caller's next copy gets it. */
  unsentAnswer = (message: ServedAnswer & { callId: number }, link: CallLink): void =>
    this.#served.unsent(message.callId, link, message)

  /** A call for another node, from a peer without a direct link to it: sent on, once. */
  #relay(message: CallMessage, link: CallLink, cast: boolean, timeoutMs: number): void {
    if ((message.flags & CallFlag.relayed) !== 0) throw new Error('a relayed call for another node')
    if (!cast && this.#served.resend(message.callId, link)) return // a copy: its answer could not go back
    const to = this.#host.link(message.target)
    if (!to?.isOpen) {
      if (!cast) link.sendEncoded(writePeer.answer(directEncoder(), message.callId, 'unreachable', ''))
      return
    }
    this.#host.metrics.callsRelayed++
    this.#relays.forward(message, link, to, this.#nextId++, timeoutMs)
  }

  /** An `answer` from a peer: to a call this node made, or one it relays back. */
  receiveAnswer(message: { callId: number; status: AnswerStatus; body: string }, link: CallLink): void {
    if (this.#relays.answer(message, link)) return
    const pending = this.#inflight.get(message.callId)
    // A late answer (the call timed out, or went elsewhere since) is nobody's business. One on
    // the link that replaced a duplicate the call still waits on is the owner's answer to it.
    const via = pending?.via
    if (!pending || !via || (via !== link && !(via.draining && sameProcess(via, link)))) return
    this.#inflight.delete(message.callId)
    const target = pending.target
    pending.via = undefined
    switch (message.status) {
      case 'ok': {
        let answer: JsonValue
        try {
          answer = toJsonValue(JSON.parse(message.body), 'answer')
        } catch (error) {
          this.#lose(pending, target, via)
          throw error
        }
        return this.#finish(pending, answer)
      }
      case 'moved':
      case 'owner_lost':
        return this.#lose(pending, target, via, message.status === 'owner_lost')
      case 'unreachable':
        ;(pending.tried ??= new Set()).add(via)
        return this.#route(pending)
      default:
        return this.#fail(pending, message.status, (message.body || message.status).slice(0, MAX_ERROR_TEXT))
    }
  }

  /**
   * Fails every waiting call with a `closed` MeshError, refuses new ones, and stops every
   * actor; the promise (undefined when no actor lives) settles once their `stop` ran.
   */
  close(): Promise<void> | undefined {
    this.#closing = true
    const closed = new MeshError('closed', 'node is closed')
    for (const pending of [...this.#inflight.values(), ...this.#parked]) this.#finish(pending, closed)
    this.#relays.clear()
    this.#served.clear()
    return this.actors.counts().size === 0 ? undefined : this.actors.stopAll(STOP_TIMEOUT_MS)
  }

  #pending(
    options: CallOptions,
    cast: boolean,
    resolve: (answer: JsonValue) => void,
    reject: (error: Error) => void,
  ): Pending {
    if (this.#closing) throw new MeshError('closed', 'node is closed')
    const { capability, id, timeoutMs, value, payload } = checkCallOptions(options, this.maxPayloadBytes)
    const pending: Pending = {
      capability,
      id,
      value,
      payload,
      cast,
      flags: cast ? CallFlag.cast : 0,
      requestedMs: timeoutMs,
      timeoutMs,
      deadline: Date.now() + timeoutMs,
      startedAt: performance.now(),
      resolve,
      reject,
      slot: undefined,
      prevDue: undefined,
      nextDue: undefined,
      callId: 0,
      via: undefined,
      target: '',
      tried: undefined,
      lost: undefined,
      done: false,
    }
    this.#deadlines.add(pending, pending.deadline)
    return pending
  }

  /** A call's deadline passed: it fails, `owner_lost` when its owner went away meanwhile. */
  #expired(pending: Pending): void {
    if (pending.lost) this.#fail(pending, 'owner_lost', lostMessage(pending))
    else this.#fail(pending, 'timeout', `no answer within ${pending.requestedMs} ms`)
  }

  #route(pending: Pending): void {
    if (pending.done) return
    const host = this.#host
    if (this.#closing) return this.#finish(pending, new MeshError('closed', 'node is closed'))
    const { capability, id } = pending
    const owner = this.placement.ownerOf(capability, id)
    if (owner === undefined) return this.#finish(pending, noOwner(pending))
    if (!mayRetry(pending, owner, host)) return void this.#parked.add(pending)
    if (owner === host.id) return this.#runLocal(pending)
    const direct = host.link(owner)
    const via = direct?.isOpen ? direct : this.#relayFor(pending, owner)
    if (!via) return void this.#parked.add(pending)
    // The pending call is the `call` message: no object, no frame of its own (see `writePeer`).
    if (pending.callId === 0) pending.callId = this.#nextId++
    pending.target = owner
    pending.timeoutMs = Math.max(1, pending.deadline - Date.now())
    if (pending.cast) {
      via.sendEncoded(writePeer.call(directEncoder(), pending))
      pending.callId = 0
      return this.#finish(pending, null)
    }
    pending.via = via
    this.#inflight.add(pending)
    via.sendEncoded(writePeer.call(directEncoder(), pending))
  }

  #runLocal(pending: Pending): void {
    const { capability, id } = pending
    this.#host.metrics.callsServed++
    if (pending.cast) {
      this.actors.run(capability, id, pending.value, pending.deadline, (failure) => {
        if (failure) this.#host.logger.debug('cast failed', { capability, id, error: failure.message })
      })
      return this.#finish(pending, null)
    }
    this.actors.run(capability, id, pending.value, pending.deadline, (failure, answer) => {
      if (failure === undefined) return this.#finish(pending, answer)
      if (failure instanceof ShardMoved) return this.#lose(pending, this.#host.id, undefined)
      if (failure instanceof MeshCallError) return this.#fail(pending, failure.code, failure.message)
      this.#finish(pending, failure)
    })
  }

  /** A linked peer to relay through, other than those that could not reach the owner. */
  #relayFor(pending: Pending, owner: string): CallLink | undefined {
    for (const link of this.#host.links()) {
      if (link.isOpen && link.peerId !== owner && !pending.tried?.has(link)) return link
    }
    return undefined
  }

  /**
   * The owner went away (or the shard moved) before answering: retry once, when the route
   * changes. A link to the owner that closed (`linkGone`: this node's, or a relay's) while the
   * owner had already been lost once through another route (as when it is killed: both close,
   * one after the other) is not a second owner: the call waits again, for the failure detector
   * or another change, within its deadline. A second owner lost, or a second `moved`, fails it.
   */
  #lose(pending: Pending, from: string, via: CallLink | undefined, linkGone = false): void {
    if (pending.done) return
    if (pending.lost && !(linkGone && pending.lost.from === from)) {
      return this.#fail(pending, 'owner_lost', lostMessage(pending))
    }
    pending.lost = { from, via, version: this.#host.members.version }
    pending.tried = undefined
    this.#route(pending)
  }

  #wake(): void {
    if (this.#waking || this.#parked.size === 0) return
    this.#waking = true
    queueMicrotask(() => {
      this.#waking = false
      const parked = [...this.#parked]
      this.#parked.clear()
      for (const pending of parked) {
        pending.tried = undefined
        this.#route(pending)
      }
    })
  }

  #fail(pending: Pending, code: CallErrorCode, message: string): void {
    this.#finish(pending, new MeshCallError(code, message, pending))
  }

  #finish(pending: Pending, result?: JsonValue | Error): void {
    if (pending.done) return
    pending.done = true
    this.#deadlines.delete(pending)
    if (pending.via !== undefined) this.#inflight.delete(pending.callId)
    this.#parked.delete(pending)
    if (!pending.cast) {
      const seconds = (performance.now() - pending.startedAt) / 1000
      if (result instanceof MeshCallError) this.#host.metrics.callEnded(seconds, result.code)
      else if (!(result instanceof Error)) this.#host.metrics.callEnded(seconds)
    }
    if (result instanceof Error) pending.reject(result)
    else pending.resolve(result ?? null)
  }
}
