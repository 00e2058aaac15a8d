import { CloseCode, unrefTimer, type Connection, type Logger, type MeshSocket, type Metrics } from '../common/index.js'

/** How long a peer socket may stay silent before its first frame (its hello), ms. */
export const HELLO_TIMEOUT_MS = 10_000

/** Options of {@link PendingHellos}. */
export interface PendingHellosOptions {
  logger: Logger
  metrics: Metrics
  /** Makes the real connection of a socket, once its first frame arrives. */
  open: (socket: MeshSocket) => Connection
  /** See {@link HELLO_TIMEOUT_MS}. */
  timeoutMs?: number
}

/** A peer socket before its first frame: a deadline, and what it becomes once it speaks. */
class PendingHello implements Connection {
  readonly socket: MeshSocket
  readonly deadline: number
  #gate: PendingHellos
  #target: Connection | undefined
  #closed = false

  constructor(gate: PendingHellos, socket: MeshSocket, deadline: number) {
    this.#gate = gate
    this.socket = socket
    this.deadline = deadline
  }

  receive(data: Uint8Array | ArrayBuffer | string): void {
    if (this.#closed) return
    this.#target ??= this.#gate.opened(this)
    this.#target.receive(data)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#gate.forget(this)
    this.#target?.close()
  }

  /** Closes the socket without it ever having become a connection. */
  fail(code: number, reason: string): void {
    this.#closed = true
    try {
      this.socket.close(code, reason)
    } catch {
      // Already closed.
    }
  }
}

/**
 * The peer sockets a node accepted that have not said anything yet. The dialer speaks first,
 * so nothing is built for such a socket (no link, no buffers, no timer of its own) until its
 * first frame arrives: anyone may open one with a 160-byte upgrade. One silent for
 * {@link HELLO_TIMEOUT_MS} is closed (4400), by one timer for all of them. There is no cap of
 * their own beyond `maxConnections`, which counts them: a global cap on handshakes let one
 * client that keeps reopening silent sockets (or a node's own dials to silent URLs) hold every
 * slot and keep honest peers out, while a waiting socket costs next to nothing.
 */
export class PendingHellos {
  #options: PendingHellosOptions
  #timeoutMs: number
  /** In arrival order, so in deadline order. */
  #waiting = new Set<PendingHello>()
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(options: PendingHellosOptions) {
    this.#options = options
    this.#timeoutMs = options.timeoutMs ?? HELLO_TIMEOUT_MS
  }

  /** Peer sockets waiting for their first frame. */
  get size(): number {
    return this.#waiting.size
  }

  /** Takes a new peer socket: the connection that waits for its first frame. */
  accept(socket: MeshSocket): Connection {
    const pending = new PendingHello(this, socket, Date.now() + this.#timeoutMs)
    this.#waiting.add(pending)
    this.#schedule()
    return pending
  }

  /** `pending` spoke: it becomes the real connection. */
  opened(pending: PendingHello): Connection {
    this.#waiting.delete(pending)
    return this.#options.open(pending.socket)
  }

  /** `pending` closed. */
  forget(pending: PendingHello): void {
    this.#waiting.delete(pending)
  }

  /** Closes every socket still waiting (the node is shutting down). */
  close(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    for (const pending of this.#waiting) pending.fail(CloseCode.goingAway, 'node is shutting down')
    this.#waiting.clear()
  }

  #schedule(): void {
    if (this.#timer !== undefined) return
    const first = this.#waiting.values().next()
    if (first.done) return
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, first.value.deadline - Date.now()))
    unrefTimer(this.#timer)
  }

  #expire(): void {
    this.#timer = undefined
    const now = Date.now()
    for (const pending of this.#waiting) {
      if (pending.deadline > now) break
      this.#waiting.delete(pending)
      this.#options.metrics.closed(CloseCode.badMessage)
      this.#options.logger.debug('closing peer socket that never said hello', { timeoutMs: this.#timeoutMs })
      pending.fail(CloseCode.badMessage, 'handshake not completed in time')
    }
    this.#schedule()
  }
}
