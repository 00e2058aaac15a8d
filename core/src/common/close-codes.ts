/**
 * WebSocket close codes Mesh uses. The 44xx range mirrors HTTP statuses, and the standard
 * `y-websocket` client treats 4400–4499 as final, so a client that sent garbage does not
 * hammer the node with reconnects.
 */
export const CloseCode = {
  /** Graceful close: node shutting down or leaving. */
  normal: 1000,
  /** Going away: used when a node stops. */
  goingAway: 1001,
  /**
   * The socket held more unsent bytes than its limit allows: the client reads slower than the
   * node sends. 1013 (Try Again Later) rather than a 44xx code, so stock clients reconnect
   * with backoff and resync only what they lack.
   */
  sendBufferFull: 1013,
  /** Try Again Later: the node is still loading its rooms from storage. */
  tryAgainLater: 1013,
  /** Malformed, unknown or unexpected message. */
  badMessage: 4400,
  /** Missing or wrong credentials. */
  unauthorized: 4401,
  /** Authenticated but not allowed (e.g. a write from a read-only peer). */
  forbidden: 4403,
  /** A second link to the same node, or a link to itself. */
  duplicate: 4409,
  /**
   * A peer link received nothing (no frame, not even a heartbeat) for longer than its silence
   * bound: the peer stopped reading or answering while the connection stayed up.
   */
  silent: 4408,
  /** Incompatible protocol version. */
  protocolVersion: 4426,
  /** Message larger than the configured limit. */
  tooLarge: 4413,
  /** Too many messages per second. */
  rateLimited: 4429,
} as const

/** One of the values of {@link CloseCode}. */
export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode]
