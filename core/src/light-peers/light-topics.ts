import { CloseCode, MeshError, type Logger, type Metrics } from '../common/index.js'
import { encodeLight, MessageType, type LightMessage } from '../replication/index.js'
import { topicProblem, type TopicSink } from '../routing/index.js'
import { mayUseTopic, type TopicGrant } from '../security/index.js'

/** Topics one light peer may be subscribed to at once. */
export const MAX_TOPICS_PER_SOCKET = 256

/** The node's pub/sub as a light peer uses it (`PubSub` is one). */
export interface TopicBus {
  addSink(topic: string, sink: TopicSink): void
  removeSink(topic: string, sink: TopicSink): void
  /** Throws a MeshError: `bad_request` (not JSON), `too_large`, `closed`. */
  publishJson(topic: string, text: string): unknown
}

/** The light peer a {@link LightTopics} serves. */
export interface TopicPeer extends TopicSink {
  readonly id: string
  readonly readOnly: boolean
  fail(code: number, reason: string): void
}

type TopicFrame = Extract<LightMessage, { type: typeof MessageType.topic | typeof MessageType.message }>

/**
 * The pub/sub side of one light peer (docs/routing.md): its subscriptions, and its publishes,
 * each checked against what the `authenticate` hook granted. A refusal is answered with a
 * `refused` frame and counted; a malformed topic or payload closes the socket.
 */
export class LightTopics {
  #peer: TopicPeer
  #bus: TopicBus
  #grant: TopicGrant
  #logger: Logger
  #metrics: Metrics
  #subscribed = new Set<string>()

  constructor(options: { peer: TopicPeer; bus: TopicBus; grant: TopicGrant; logger: Logger; metrics: Metrics }) {
    this.#peer = options.peer
    this.#bus = options.bus
    this.#grant = options.grant
    this.#logger = options.logger
    this.#metrics = options.metrics
  }

  handle(message: TopicFrame): void {
    const peer = this.#peer
    const { topic } = message
    const problem = topicProblem(topic)
    if (problem) return peer.fail(CloseCode.badMessage, problem)
    if (message.type === MessageType.topic) return this.#topic(topic, message.subscribe)
    if (!mayUseTopic(this.#grant, peer.readOnly, 'publish', topic)) return this.#refuse(topic, 'publish')
    try {
      this.#bus.publishJson(topic, message.payload)
    } catch (error) {
      if (!(error instanceof MeshError)) throw error
      if (error.code === 'too_large') return peer.fail(CloseCode.tooLarge, error.message)
      if (error.code !== 'closed') peer.fail(CloseCode.badMessage, error.message)
    }
  }

  /** The peer left: it hears nothing more. */
  close(): void {
    for (const topic of this.#subscribed) this.#bus.removeSink(topic, this.#peer)
    this.#subscribed.clear()
  }

  #topic(topic: string, subscribe: boolean): void {
    if (!subscribe) {
      if (this.#subscribed.delete(topic)) this.#bus.removeSink(topic, this.#peer)
      return
    }
    if (this.#subscribed.has(topic)) return
    if (!mayUseTopic(this.#grant, this.#peer.readOnly, 'subscribe', topic)) return this.#refuse(topic, 'subscribe')
    if (this.#subscribed.size >= MAX_TOPICS_PER_SOCKET) {
      this.#logger.warn('refused a light peer subscription beyond the per-socket limit', {
        peer: this.#peer.id,
        limit: MAX_TOPICS_PER_SOCKET,
      })
      this.#peer.sendFrame(encodeLight.refused(topic, `a connection may subscribe to ${MAX_TOPICS_PER_SOCKET} topics`))
      return
    }
    this.#subscribed.add(topic)
    this.#bus.addSink(topic, this.#peer)
  }

  #refuse(topic: string, action: 'publish' | 'subscribe'): void {
    this.#metrics.pubsubRefused++
    this.#logger.info(`refused a light peer's ${action}`, { peer: this.#peer.id, topic })
    this.#peer.sendFrame(encodeLight.refused(topic, `${action} on "${topic}" is not allowed`))
  }
}
