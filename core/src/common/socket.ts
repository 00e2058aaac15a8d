/**
 * The only thing core needs from a WebSocket. Hono's WSContext, `ws`'s WebSocket and the
 * browser WebSocket all satisfy it as they are.
 */
export interface MeshSocket {
  send(data: Uint8Array<ArrayBuffer>): void
  close(code?: number, reason?: string): void
  readonly readyState: number
  /**
   * Bytes accepted by `send` but not yet written to the network. `ws` and browser sockets have
   * it; when a socket has none (nor a `raw` socket that has, as Hono's WSContext does), Mesh
   * cannot see a client that stops reading and bounds nothing.
   */
  readonly bufferedAmount?: number
}

/** `readyState` of an open WebSocket, the same in every implementation. */
export const SOCKET_OPEN = 1

/** What an adapter holds for each accepted socket: feed it frames, tell it when the socket closed. */
export interface Connection {
  /** Hands one received frame to core. Text frames are passed as strings and rejected. */
  receive(data: Uint8Array | ArrayBuffer | string): void
  /** Tells core the socket is gone (call it from the close handler, always). */
  close(code?: number, reason?: string): void
}
