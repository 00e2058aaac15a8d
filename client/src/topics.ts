import { MessageType, toJsonValue, topicProblem, type JsonValue, type LightFrameMessage } from '@mesh/core/browser'
import { MeshClientError } from './errors.js'
import { encodeMessage } from './protocol.js'

/** A `client.subscribe` handler. */
export type ClientTopicHandler = (payload: JsonValue, message: { topic: string }) => void

/** A delivery or refusal a node sent about a topic. */
export type TopicFrameMessage = Extract<
  LightFrameMessage,
  { type: typeof MessageType.message | typeof MessageType.refused }
>

/** Options of {@link ClientTopics}. */
export interface ClientTopicsOptions {
  /** Sends a frame on the open socket; false when there is none. */
  send: (frame: Uint8Array<ArrayBuffer>) => boolean
  /** A handler threw, or a node refused a subscribe or publish. */
  report: (error: MeshClientError) => void
}

const assertTopic = (topic: string): void => {
  const problem = topicProblem(topic)
  if (problem) throw new MeshClientError('bad_request', problem)
}

/**
 * The client's pub/sub (docs/routing.md): its subscriptions, sent again on every connection,
 * and its publishes. Messages are not state: none is kept while offline.
 */
export class ClientTopics {
  #options: ClientTopicsOptions
  #handlers = new Map<string, Set<ClientTopicHandler>>()

  constructor(options: ClientTopicsOptions) {
    this.#options = options
  }

  subscribe(topic: string, handler: ClientTopicHandler): () => void {
    assertTopic(topic)
    if (typeof handler !== 'function') throw new MeshClientError('bad_request', 'handler must be a function')
    const entry: ClientTopicHandler = (payload, message) => handler(payload, message)
    let handlers = this.#handlers.get(topic)
    if (!handlers) {
      this.#handlers.set(topic, (handlers = new Set()))
      this.#options.send(encodeMessage.topic(true, topic))
    }
    handlers.add(entry)
    return () => {
      if (!handlers.delete(entry) || handlers.size > 0 || this.#handlers.get(topic) !== handlers) return
      this.#handlers.delete(topic)
      this.#options.send(encodeMessage.topic(false, topic))
    }
  }

  publish(topic: string, payload: JsonValue): boolean {
    assertTopic(topic)
    const text = JSON.stringify(toJsonValue(payload ?? null, 'payload'))
    return this.#options.send(encodeMessage.message(topic, text))
  }

  /** A socket opened: subscribe again to every topic. */
  opened(): void {
    for (const topic of this.#handlers.keys()) this.#options.send(encodeMessage.topic(true, topic))
  }

  /** A node delivered a message or refused something. Throws on a payload that is not JSON. */
  received(message: TopicFrameMessage): void {
    const { topic } = message
    if (message.type === MessageType.refused) {
      this.#options.report(new MeshClientError('forbidden', message.reason, { reason: message.reason }))
      return
    }
    const handlers = this.#handlers.get(topic)
    if (!handlers) return
    toJsonValue(JSON.parse(message.payload), 'payload')
    for (const handler of [...handlers]) {
      try {
        handler(JSON.parse(message.payload) as JsonValue, { topic })
      } catch (error) {
        this.#options.report(new MeshClientError('listener', `a "${topic}" subscriber threw`, { cause: error }))
      }
    }
  }
}
