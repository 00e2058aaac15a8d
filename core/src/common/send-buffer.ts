import type { MeshSocket } from './socket.js'

/** Bytes a socket holds that it has not written to the network yet, if the socket can tell. */
export const bufferedBytes = (socket: MeshSocket): number | undefined => {
  if (typeof socket.bufferedAmount === 'number') return socket.bufferedAmount
  // Hono's WSContext has no bufferedAmount of its own, but exposes the runtime's socket (ws on Node).
  const raw: unknown = (socket as { raw?: unknown }).raw
  if (typeof raw !== 'object' || raw === null) return undefined
  const amount: unknown = (raw as { bufferedAmount?: unknown }).bufferedAmount
  return typeof amount === 'number' ? amount : undefined
}

/**
 * Keeps what one socket holds unsent within a bound, so a client that stops reading cannot
 * make the node buffer without end. The bound is `limit` bytes beyond the largest frame the
 * socket was ever given: a client can always receive a whole room however large, and live
 * traffic on top of it while it drains.
 */
export class SendBuffer {
  readonly limit: number
  #largest = 0

  constructor(options: { limit: number }) {
    this.limit = options.limit
  }

  /**
   * Call before sending a frame of `bytes`. Returns the bytes the socket holds when it is past
   * its bound (the frame must not be sent; close the socket), otherwise `undefined`.
   */
  overflow(socket: MeshSocket, bytes: number): number | undefined {
    const held = bufferedBytes(socket)
    if (held === undefined) return undefined
    if (held > this.limit + this.#largest) return held
    if (bytes > this.#largest) this.#largest = bytes
    return undefined
  }
}

/** How long a budget trusts its running total before it reads every socket's buffer again. */
const RESCAN_MS = 100

/**
 * Unsent bytes all the sockets of one kind may hold together (a node-wide bound): each
 * socket's own bound stops one client that stops reading, but a thousand such clients, each
 * within its own bound, would still pin a thousand answers in memory for a few bytes each.
 * Large answers (a light peer's SyncStep1 answer) wait while the budget is spent. The total
 * is counted up as frames are sent and read again from the sockets at most every 100 ms.
 */
export class SendBudget {
  readonly limit: number
  #sockets = new Set<MeshSocket>()
  #total = 0
  #readAt = -Infinity

  constructor(options: { limit: number }) {
    this.limit = options.limit
  }

  /** Counts a socket's unsent bytes from now on. */
  add(socket: MeshSocket): void {
    this.#sockets.add(socket)
  }

  /** Stops counting a socket (it closed). */
  delete(socket: MeshSocket): void {
    if (this.#sockets.delete(socket)) this.#readAt = -Infinity
  }

  /** A frame of `bytes` was handed to one of the sockets. */
  sent(bytes: number): void {
    this.#total += bytes
  }

  /** Unsent bytes of all the sockets, near enough (never under, by more than what drained in the last 100 ms). */
  held(now = Date.now()): number {
    if (now - this.#readAt >= RESCAN_MS) {
      let total = 0
      for (const socket of this.#sockets) total += bufferedBytes(socket) ?? 0
      this.#total = total
      this.#readAt = now
    }
    return this.#total
  }

  /** True while the sockets together hold more than the limit. */
  spent(now = Date.now()): boolean {
    return this.held(now) > this.limit
  }
}
