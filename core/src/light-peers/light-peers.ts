import {
  CloseCode,
  MeshError,
  SendBudget,
  type Connection,
  type Logger,
  type MeshSocket,
  type Metrics,
  unrefTimer,
} from '../common/index.js'
import { lightKeepalive, type Room } from '../replication/index.js'
import type { TopicGrant } from '../security/index.js'
import { LightPeer, type LightHost } from './light-peer.js'
import type { TopicBus } from './light-topics.js'

/** Who may write: all light peers, none, or decided per connection. */
export type LightReadOnly = boolean | ((info: { room: string; request: unknown }) => boolean)

/** What the light peers need of the node around them. */
export interface LightPeersOptions {
  readonly logger: Logger
  readonly metrics: Metrics
  readonly maxMessageBytes: number
  readonly messagesPerSecond: number
  readonly sendBufferBytes: number
  readonly syncAnswersPerMinute: number
  /** Unsent bytes all light peers may hold together before SyncStep1 answers wait. */
  readonly sendBudgetBytes: number
  readonly keepaliveMs: number
  readonly readOnly: LightReadOnly | undefined
  /** The node's pub/sub. */
  readonly topics: TopicBus
  /** A light peer of `room` closed (the room may now be unused). */
  readonly left?: (room: Room) => void
}

/** The light peers (browser tabs, y-websocket clients) of a node, and their keepalive. */
export class LightPeers {
  #options: LightPeersOptions
  #lights = new Set<LightPeer>()
  #seq = 0
  #keepalive: ReturnType<typeof setInterval> | undefined
  #host: LightHost

  constructor(options: LightPeersOptions) {
    this.#options = options
    this.#host = {
      logger: options.logger,
      maxMessageBytes: options.maxMessageBytes,
      metrics: options.metrics,
      messagesPerSecond: options.messagesPerSecond,
      sendBufferBytes: options.sendBufferBytes,
      syncAnswersPerMinute: options.syncAnswersPerMinute,
      sendBudget: new SendBudget({ limit: options.sendBudgetBytes }),
      topics: options.topics,
      lightDown: (light: LightPeer) => {
        this.#lights.delete(light)
        options.left?.(light.room)
      },
    }
  }

  get size(): number {
    return this.#lights.size
  }

  /**
   * Serves a light peer on `room`. It is read-only when the `authenticate` hook said so, else
   * by the `readOnly` of `accept`, else by the `lightPeers.readOnly` policy.
   */
  open(
    socket: MeshSocket,
    room: Room,
    options: { authReadOnly: boolean; topics?: TopicGrant; readOnly?: boolean; request?: unknown },
  ): LightPeer {
    const policy = this.#options.readOnly
    const readOnly =
      options.authReadOnly ||
      (options.readOnly ??
        (typeof policy === 'function' ? policy({ room: room.name, request: options.request }) : (policy ?? false)))
    const light = new LightPeer({
      id: String(++this.#seq),
      host: this.#host,
      socket,
      room,
      readOnly,
      topics: options.topics,
    })
    this.#lights.add(light)
    this.#startKeepalive()
    return light
  }

  /** Serves a light peer on the room `room()` returns; a refused room closes the socket. */
  accept(
    socket: MeshSocket,
    room: () => Room,
    options: { authReadOnly: boolean; topics?: TopicGrant; readOnly?: boolean; request?: unknown },
  ): Connection {
    let target: Room
    try {
      target = room()
    } catch (error) {
      const code =
        error instanceof MeshError && error.code === 'too_large' ? CloseCode.rateLimited : CloseCode.badMessage
      const reason = (error as Error).message.slice(0, 120)
      // Refused like any other bad input: counted and logged, not only closed.
      this.#host.metrics.closed(code)
      this.#host.logger.warn('refusing light peer: its room', { code, reason })
      socket.close(code, reason)
      return { receive: () => {}, close: () => {} }
    }
    return this.open(socket, target, { ...options, request: options.request })
  }

  /** Closes every light peer (the node is shutting down). */
  close(): void {
    clearInterval(this.#keepalive)
    for (const light of [...this.#lights]) light.fail(CloseCode.goingAway, 'node is shutting down')
  }

  #startKeepalive(): void {
    if (this.#keepalive) return
    // Every half interval, to the sockets that were sent nothing since the last round: an idle
    // one hears from the node once per interval, a busy one (a fan-out every few ms) never.
    this.#keepalive = setInterval(
      () => {
        for (const light of this.#lights) light.keepalive(lightKeepalive)
      },
      Math.max(1, Math.floor(this.#options.keepaliveMs / 2)),
    )
    unrefTimer(this.#keepalive)
  }
}
