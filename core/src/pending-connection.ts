import type { AuthDecision } from './auth.js'
import { CloseCode } from './close-codes.js'
import type { Logger } from './logger.js'
import type { Connection, MeshSocket } from './socket.js'

/** Frames held while authentication runs; a client that floods before being let in is cut off. */
const MAX_HELD = 64

/**
 * A socket whose authentication is still running. Frames are held, and nothing (no room,
 * no state) is created until the decision allows it; then the real connection takes over
 * and replays what was held, in order.
 */
export class PendingConnection implements Connection {
  #held: Array<Uint8Array | ArrayBuffer | string> = []
  #target: Connection | undefined
  #closed = false
  #socket: MeshSocket

  constructor(options: {
    socket: MeshSocket
    decision: Promise<AuthDecision>
    open: (readOnly: boolean) => Connection
    logger: Logger
  }) {
    this.#socket = options.socket
    options.decision.then(
      (decision) => {
        if (this.#closed) return
        if (!decision.allow) {
          options.logger.info('light peer refused', { code: decision.code, reason: decision.reason })
          this.#fail(decision.code, decision.reason)
          return
        }
        const target = options.open(decision.readOnly)
        this.#target = target
        for (const frame of this.#held.splice(0)) target.receive(frame)
      },
      (error: unknown) => {
        options.logger.error('authenticate hook failed', { error: String(error) })
        this.#fail(CloseCode.unauthorized, 'authentication failed')
      },
    )
  }

  /** Holds frames until the decision, then passes them on. */
  receive(data: Uint8Array | ArrayBuffer | string): void {
    if (this.#target) return this.#target.receive(data)
    if (this.#closed) return
    if (this.#held.length >= MAX_HELD)
      return this.#fail(CloseCode.rateLimited, 'too many messages before authentication')
    // Copy: adapters may reuse the buffer once `receive` returns.
    this.#held.push(
      typeof data === 'string' ? data : new Uint8Array(data instanceof ArrayBuffer ? data.slice(0) : data.slice()),
    )
  }

  /** The socket is gone: drop what was held, close the real connection if there is one. */
  close(): void {
    this.#closed = true
    this.#held = []
    this.#target?.close()
  }

  #fail(code: number, reason: string): void {
    this.#closed = true
    this.#held = []
    try {
      this.#socket.close(code, reason.slice(0, 120))
    } catch {
      // Already closed.
    }
  }
}
