import type { AuthDecision, TopicGrant } from './auth.js'
import { CloseCode, errorText } from '../common/index.js'
import type { Logger } from '../common/index.js'
import type { Metrics } from '../common/index.js'
import type { Connection, MeshSocket } from '../common/index.js'

/** Frames held while authentication runs; a client that floods before being let in is cut off. */
const MAX_HELD = 64

/** Options of {@link PendingConnection}. */
export interface PendingConnectionOptions {
  socket: MeshSocket
  decision: Promise<AuthDecision>
  open: (readOnly: boolean, topics: TopicGrant) => Connection
  logger: Logger
  metrics: Metrics
  /** Bytes of frames held before the decision; more closes the socket with 4413. */
  maxBytes: number
  /** Called once when the connection stops waiting: opened, refused, failed or closed. */
  settled?: () => void
}

/**
 * A socket whose authentication is still running. Frames are held, and nothing (no room,
 * no state) is created until the decision allows it; then the real connection takes over
 * and replays what was held, in order. What is held is bounded in frames and in bytes, since
 * whoever sends it has not proven anything yet.
 */
export class PendingConnection implements Connection {
  #held: Array<Uint8Array | ArrayBuffer | string> = []
  #heldBytes = 0
  #target: Connection | undefined
  #closed = false
  #socket: MeshSocket
  #logger: Logger
  #metrics: Metrics
  #maxBytes: number
  #settled: (() => void) | undefined

  constructor(options: PendingConnectionOptions) {
    this.#socket = options.socket
    this.#logger = options.logger
    this.#metrics = options.metrics
    this.#maxBytes = options.maxBytes
    this.#settled = options.settled
    options.decision.then(
      (decision) => {
        if (this.#closed) return
        if (!decision.allow) {
          options.logger.info('light peer refused', { code: decision.code, reason: decision.reason })
          this.#fail(decision.code, decision.reason)
          return
        }
        const target = options.open(decision.readOnly, decision.topics)
        this.#target = target
        this.#settle()
        for (const frame of this.#held.splice(0)) target.receive(frame)
        this.#heldBytes = 0
      },
      (error: unknown) => {
        options.logger.error('authenticate hook failed', { error: errorText(error) })
        this.#fail(CloseCode.unauthorized, 'authentication failed')
      },
    )
  }

  /** Holds frames until the decision, then passes them on. */
  receive(data: Uint8Array | ArrayBuffer | string): void {
    if (this.#target) return this.#target.receive(data)
    if (this.#closed) return
    if (this.#held.length >= MAX_HELD) {
      this.#logger.warn('closing socket that sent too much before authentication', { frames: this.#held.length + 1 })
      return this.#fail(CloseCode.rateLimited, 'too many messages before authentication')
    }
    const bytes = typeof data === 'string' ? data.length : data.byteLength
    if (this.#heldBytes + bytes > this.#maxBytes) {
      this.#logger.warn('closing socket that sent too much before authentication', {
        bytes: this.#heldBytes + bytes,
        limit: this.#maxBytes,
      })
      return this.#fail(CloseCode.tooLarge, `more than ${this.#maxBytes} bytes before authentication`)
    }
    this.#heldBytes += bytes
    // Copy: adapters may reuse the buffer once `receive` returns.
    this.#held.push(
      typeof data === 'string' ? data : new Uint8Array(data instanceof ArrayBuffer ? data.slice(0) : data.slice()),
    )
  }

  /** The socket is gone: drop what was held, close the real connection if there is one. */
  close(): void {
    this.#closed = true
    this.#held = []
    this.#settle()
    this.#target?.close()
  }

  #settle(): void {
    const settled = this.#settled
    this.#settled = undefined
    settled?.()
  }

  #fail(code: number, reason: string): void {
    this.#closed = true
    this.#held = []
    this.#metrics.closed(code)
    this.#settle()
    try {
      this.#socket.close(code, reason.slice(0, 120))
    } catch {
      // Already closed.
    }
  }
}
