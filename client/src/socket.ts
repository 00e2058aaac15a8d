// Method syntax keeps handler parameters bivariant, so both the DOM's and `ws`'s event types fit.
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack']

/**
 * The part of a WebSocket the client uses. The browser's `WebSocket` and the `ws` package's
 * `WebSocket` both satisfy it as they are.
 */
export interface ClientSocket {
  binaryType: string
  readonly readyState: number
  send(data: Uint8Array<ArrayBuffer>): void
  close(code?: number, reason?: string): void
  onopen: Handler<unknown> | null
  onmessage: Handler<{ data: unknown }> | null
  onclose: Handler<{ code: number; reason: string }> | null
  onerror: Handler<unknown> | null
}

/** A WebSocket class: `globalThis.WebSocket` in browsers, `WebSocket` from `ws` in Node. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => ClientSocket

/** `readyState` of an open WebSocket, the same in every implementation. */
export const SOCKET_OPEN = 1
