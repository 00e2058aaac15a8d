import { CloseCode } from './close-codes.js'

/** Why a message or connection was refused, by close code. */
const REASONS: Record<number, string> = {
  [CloseCode.badMessage]: 'bad_message',
  [CloseCode.unauthorized]: 'unauthorized',
  [CloseCode.forbidden]: 'forbidden',
  [CloseCode.duplicate]: 'duplicate',
  [CloseCode.tooLarge]: 'too_large',
  [CloseCode.protocolVersion]: 'protocol_version',
  [CloseCode.rateLimited]: 'rate_limited',
  [CloseCode.sendBufferFull]: 'send_buffer_full',
}

/** Counters a node keeps for `GET /mesh/api/metrics`. */
export class Metrics {
  peerFramesIn = 0
  peerFramesOut = 0
  peerBytesIn = 0
  peerBytesOut = 0
  lightFramesIn = 0
  lightFramesOut = 0
  lightBytesIn = 0
  lightBytesOut = 0
  rejected = new Map<string, number>()
  /** Anti-entropy repairs sent to peers that lacked updates, and received from peers. */
  repairsSent = 0
  repairsReceived = 0
  /** Times a room dropped updates that stayed pending through anti-entropy rounds. */
  pendingDropped = 0
  /** Errors caught in timers and handlers (logged), by where they happened. */
  failures = new Map<string, number>()

  /** Counts an error caught where it must not escape (a timer, an event handler). */
  failed(where: string): void {
    this.failures.set(where, (this.failures.get(where) ?? 0) + 1)
  }

  /** Counts a socket closed for a reason that is the client's fault (44xx, or a full send buffer). */
  closed(code: number): void {
    const reason = REASONS[code]
    if (reason) this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1)
  }
}
