import { MeshError, toJsonValue, type JsonValue, type Logger, type Metrics, errorText } from '../common/index.js'
import { encodeLight, encodePeer, type PublishMessage } from '../replication/index.js'
import { firstSeq, SeenIds } from './seen-ids.js'
import { topicProblem } from './topic-rules.js'

/** What a subscriber learns besides the payload. */
export interface TopicMessage {
  topic: string
  /** Id of the node the message was published on (by the node itself, a light peer or REST). */
  origin: string
  /** Unique in the mesh: `<seq>/<origin>`. */
  id: string
}

/** A `node.subscribe` handler: the payload is the subscriber's own copy. */
export type TopicHandler = (payload: JsonValue, message: TopicMessage) => void

/** What `publish` did on this node: the rest of the mesh delivers without answering. */
export interface PublishReceipt {
  /** The message id, unique in the mesh. */
  id: string
  /** Subscribers on this node (handlers and light peers) it was delivered to. */
  delivered: number
  /** Peer links it was sent on; each peer delivers it and passes it on. */
  relayed: number
}

/** A light peer as pub/sub delivers to it. */
export interface TopicSink {
  sendFrame(frame: Uint8Array<ArrayBuffer>): void
}

/** A peer link as pub/sub floods over it (`PeerLink` is one). */
export interface TopicLink {
  readonly isOpen: boolean
  sendFrame(frame: Uint8Array<ArrayBuffer>): void
}

/** What pub/sub needs of the node around it. */
export interface PubSubHost {
  readonly id: string
  readonly logger: Logger
  readonly metrics: Metrics
  /** The peer frame limit: a payload must fit in one frame. */
  readonly maxMessageBytes: number
  links(): Iterable<TopicLink>
}

/** Message ids remembered per origin to drop the copies a mesh with cycles delivers. */
export const SEEN_MESSAGES = 65_536
/** Origins (nodes) whose message ids are remembered. */
const SEEN_ORIGINS = 4096
/** Room for the rest of a `publish` frame beside its payload. */
const FRAME_OVERHEAD = 4096
const MAX_ORIGIN_LENGTH = 128

const byteLength = (text: string): number => Buffer.byteLength(text)

/**
 * Pub/sub across the mesh (DESIGN §8, docs/routing.md): messages, never state. A message is
 * flooded along the peer links with split horizon, and each node drops the copies whose id it
 * saw, so every node delivers each message once to its own subscribers: `subscribe` handlers
 * and light peers.
 */
export class PubSub {
  #host: PubSubHost
  #handlers = new Map<string, Set<TopicHandler>>()
  #sinks = new Map<string, Set<TopicSink>>()
  #seen = new SeenIds({ window: SEEN_MESSAGES, maxOrigins: SEEN_ORIGINS })
  // From the clock, so a node restarted with the same id publishes above its previous life.
  #seq = firstSeq()
  #closed = false

  constructor(host: PubSubHost) {
    this.#host = host
  }

  /** The largest JSON payload, in UTF-8 bytes. */
  get maxPayloadBytes(): number {
    return Math.max(1024, this.#host.maxMessageBytes - FRAME_OVERHEAD)
  }

  /** Topics with at least one subscriber on this node. */
  topics(): string[] {
    return [...new Set([...this.#handlers.keys(), ...this.#sinks.keys()])]
  }

  /** Calls `handler` with every message published on `topic` anywhere in the mesh; returns the unsubscribe. */
  subscribe(topic: string, handler: TopicHandler): () => void {
    this.#assertOpen()
    assertTopic(topic)
    if (typeof handler !== 'function') throw new MeshError('bad_request', 'handler must be a function')
    // A handler subscribed twice is called once per subscription, and each unsubscribe removes one.
    const entry: TopicHandler = (payload, message) => handler(payload, message)
    add(this.#handlers, topic, entry)
    return () => remove(this.#handlers, topic, entry)
  }

  /** Publishes `payload` (JSON) on `topic` to every subscriber in the mesh. */
  publish(topic: string, payload: JsonValue): PublishReceipt {
    this.#assertOpen()
    assertTopic(topic)
    return this.#originate(topic, JSON.stringify(toJsonValue(payload ?? null, 'payload')))
  }

  /** Publishes a payload given as JSON text (a light peer's, REST's); throws a MeshError when it is not JSON. */
  publishJson(topic: string, text: string): PublishReceipt {
    this.#assertOpen()
    assertTopic(topic)
    this.#checkSize(text)
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      throw new MeshError('bad_request', 'the payload is not valid JSON')
    }
    toJsonValue(value, 'payload')
    return this.#originate(topic, text)
  }

  /** A light peer subscribes to `topic`. */
  addSink(topic: string, sink: TopicSink): void {
    if (!this.#closed) add(this.#sinks, topic, sink)
  }

  /** A light peer unsubscribes from `topic` (or left). */
  removeSink(topic: string, sink: TopicSink): void {
    remove(this.#sinks, topic, sink)
  }

  /** A `publish` from a peer. Anything malformed throws, which closes that link. */
  receive(message: PublishMessage, from: TopicLink): void {
    const { origin, seq, topic, payload } = message
    if (origin.length === 0 || origin.length > MAX_ORIGIN_LENGTH) throw new Error('bad publish origin')
    const problem = topicProblem(topic)
    if (problem) throw new Error(`bad publish topic: ${problem}`)
    // Copies are dropped before their payload is parsed: in a mesh with cycles most frames are copies.
    if (this.#closed || origin === this.#host.id || this.#seen.has(origin, seq)) {
      this.#host.metrics.pubsubDuplicates++
      return
    }
    if (byteLength(payload) > this.maxPayloadBytes) throw new Error('publish payload too large')
    const value = toJsonValue(JSON.parse(payload), 'publish payload')
    this.#seen.add(origin, seq)
    this.#deliver(topic, payload, { topic, origin, id: `${seq}/${origin}` }, value)
    let relayed = 0
    const frame = encodePeer.publish(message)
    for (const link of this.#host.links()) {
      if (link === from || !link.isOpen) continue
      link.sendFrame(frame)
      relayed++
    }
    this.#host.metrics.pubsubRelayed += relayed
  }

  /** Drops every subscriber; `publish` and `subscribe` throw from now on. */
  close(): void {
    this.#closed = true
    this.#handlers.clear()
    this.#sinks.clear()
    this.#seen.clear()
  }

  #originate(topic: string, payload: string): PublishReceipt {
    this.#checkSize(payload)
    const host = this.#host
    const seq = ++this.#seq
    const id = `${seq}/${host.id}`
    host.metrics.pubsubPublished++
    const delivered = this.#deliver(topic, payload, { topic, origin: host.id, id })
    let relayed = 0
    const frame = encodePeer.publish({ origin: host.id, seq, topic, payload })
    for (const link of host.links()) {
      if (!link.isOpen) continue
      link.sendFrame(frame)
      relayed++
    }
    return { id, delivered, relayed }
  }

  /** Hands a message to this node's subscribers; returns how many there were. `value` is a copy the first handler may have. */
  #deliver(topic: string, payload: string, message: TopicMessage, value?: JsonValue): number {
    const handlers = this.#handlers.get(topic)
    const sinks = this.#sinks.get(topic)
    let delivered = 0
    if (sinks) {
      const frame = encodeLight.message(topic, payload)
      for (const sink of [...sinks]) {
        sink.sendFrame(frame)
        delivered++
      }
    }
    if (handlers) {
      let copy = value
      for (const handler of [...handlers]) {
        delivered++
        try {
          // Each handler gets its own copy: one handler's changes never reach another.
          const own = copy ?? (JSON.parse(payload) as JsonValue)
          copy = undefined
          handler(own, message)
        } catch (error) {
          this.#host.metrics.failed('subscriber')
          this.#host.logger.error('subscriber failed', { topic, error: errorText(error) })
        }
      }
    }
    this.#host.metrics.pubsubDelivered += delivered
    return delivered
  }

  #checkSize(payload: string): void {
    if (byteLength(payload) > this.maxPayloadBytes) {
      throw new MeshError('too_large', `the payload is larger than ${this.maxPayloadBytes} bytes`)
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new MeshError('closed', 'node is closed')
  }
}

const assertTopic = (topic: unknown): void => {
  const problem = topicProblem(topic)
  if (problem) throw new MeshError('bad_request', problem)
}

const add = <T>(map: Map<string, Set<T>>, topic: string, item: T): void => {
  let set = map.get(topic)
  if (!set) map.set(topic, (set = new Set()))
  set.add(item)
}

const remove = <T>(map: Map<string, Set<T>>, topic: string, item: T): void => {
  const set = map.get(topic)
  if (!set?.delete(item)) return
  if (set.size === 0) map.delete(topic)
}
