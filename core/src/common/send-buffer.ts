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
