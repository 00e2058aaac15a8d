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
  [CloseCode.silent]: 'silent',
}

/** Upper bounds, in seconds, of the call latency histogram. */
export const CALL_LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

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
  /** Anti-entropy round checks sent, and left out because neither side had anything new (`CheckAnswers`). */
  checksSent = 0
  checksSkipped = 0
  /**
   * Live updates from peers that held nothing new (a relay the sender could have left out);
   * counted, not applied.
   */
  duplicatesApplied = 0
  /** Relays left out because the peer gets the update from the node it came from (issue 19). */
  duplicatesDropped = 0
  /** Times a room dropped updates that stayed pending through anti-entropy rounds, or past `MAX_PENDING_BYTES` after a live apply. */
  pendingDropped = 0
  /** Routed calls this node made (`call`) and sent without waiting (`cast`). */
  calls = 0
  casts = 0
  /** Calls this node's actors ran, and calls it relayed for others. */
  callsServed = 0
  callsRelayed = 0
  /** Copies of calls in progress on this node's actors (sent again after a link closed): answered with the run, not run again. */
  callsJoined = 0
  /** Pub/sub messages published on this node (by itself, its light peers or REST). */
  pubsubPublished = 0
  /** Pub/sub deliveries to this node's subscribers (handlers and light peers). */
  pubsubDelivered = 0
  /** Pub/sub messages this node passed on to its other peers. */
  pubsubRelayed = 0
  /** Copies of pub/sub messages dropped because this node had handled them already. */
  pubsubDuplicates = 0
  /** Subscribes and publishes of light peers refused by the `authenticate` hook's grant. */
  pubsubRefused = 0
  /** Failed calls, by error code (`no_owner`, `owner_lost`, `timeout`, `actor_failed`). */
  callErrors = new Map<string, number>()
  /** Latency of answered calls: counts per upper bound of {@link CALL_LATENCY_BUCKETS}, then their sum in seconds. */
  callLatency = { buckets: CALL_LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 }

  /** Counts the end of a call this node made, answered or failed. */
  callEnded(seconds: number, code?: string): void {
    if (code !== undefined) {
      this.callErrors.set(code, (this.callErrors.get(code) ?? 0) + 1)
      return
    }
    const latency = this.callLatency
    latency.count++
    latency.sum += seconds
    let bucket = 0
    while (bucket < CALL_LATENCY_BUCKETS.length && seconds > (CALL_LATENCY_BUCKETS[bucket] as number)) bucket++
    if (bucket < CALL_LATENCY_BUCKETS.length) latency.buckets[bucket] = (latency.buckets[bucket] ?? 0) + 1
  }

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
